// REST calls with the session token; a 401 sends the user back to the login form.

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

export class Api {
  constructor(storageKey) {
    this.storageKey = storageKey;
    const saved = JSON.parse(localStorage.getItem(storageKey) || "null");
    this.session = saved && new Date(saved.expires_at) > new Date() ? saved : null;
    this.onUnauthorized = () => {};
  }

  get token() {
    return this.session?.token;
  }

  get user() {
    return this.session?.user;
  }

  async login(username, password) {
    const session = await this.request("POST", "/api/v1/auth/login", { username, password });
    this.session = session;
    localStorage.setItem(this.storageKey, JSON.stringify(session));
    return session.user;
  }

  async logout() {
    try {
      await this.request("POST", "/api/v1/auth/logout");
    } finally {
      this.forget();
    }
  }

  // Keep what the server says of the user (e.g. a new locale) for the next visit.
  remember(user) {
    if (!this.session) return;
    this.session.user = user;
    localStorage.setItem(this.storageKey, JSON.stringify(this.session));
  }

  forget() {
    this.session = null;
    localStorage.removeItem(this.storageKey);
  }

  get = (path) => this.request("GET", path);
  post = (path, body) => this.request("POST", path, body ?? {});
  put = (path, body) => this.request("PUT", path, body ?? {});

  async request(method, path, body, extraHeaders = {}) {
    const headers = { Accept: "application/json", ...extraHeaders };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && this.token) {
      this.forget();
      this.onUnauthorized();
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail ?? detail;
      } catch {
        /* not JSON */
      }
      throw new ApiError(response.status, detail);
    }
    return response.status === 204 ? null : response.json();
  }
}
