// REST calls in the browser's session; a 401 sends the user back to the login form.
// The session itself is an HttpOnly cookie the server sets at log-in: no script on
// the page can read it (docs/access.md). The page keeps only who is signed in and
// until when, to show the right view before its first request.

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
    // A session saved by an older page still holds a bearer token: drop it.
    if (saved?.token) localStorage.removeItem(storageKey);
    const valid = saved && !saved.token && new Date(saved.expires_at) > new Date();
    this.session = valid ? saved : null;
    this.onUnauthorized = () => {};
  }

  // The page never holds the token any more (the cookie carries the session):
  // always null. Kept so older callers read "no token" rather than fail.
  get token() {
    return null;
  }

  get signedIn() {
    return this.session !== null;
  }

  get user() {
    return this.session?.user;
  }

  async login(username, password) {
    const { expires_at, user } = await this.request("POST", "/api/v1/auth/login", {
      username,
      password,
      session: "cookie",
    });
    this.session = { expires_at, user };
    localStorage.setItem(this.storageKey, JSON.stringify(this.session));
    return user;
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
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin", // the session cookie, to this server only
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && this.session) {
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
