// What both pages do alike: sign in (for the roles the page serves), switch the
// language (remembered on the account), sign out, and back to the form on a 401.

import { $, h } from "./dom.js";
import { apply, otherLocale, preferredLocale, t, useLocale } from "./i18n.js";

// A new or reset account holds a one-time password: nothing opens until its
// holder has chosen their own (the server answers 403 to everything else).
function choosePassword(api, done) {
  const error = h("p", { class: "error", role: "alert" });
  const field = (name, key, autocomplete) =>
    h("label", {}, h("span", { "data-i18n": key }),
      h("input", { name, type: "password", autocomplete, required: true, maxlength: 128 }));
  const form = h("form", { id: "password-change", class: "login" },
    h("h1", { "data-i18n": "password.title" }),
    h("p", { class: "muted", "data-i18n": "password.why" }),
    field("current", "password.current", "current-password"),
    field("next", "password.new", "new-password"),
    field("again", "password.repeat", "new-password"),
    error,
    h("button", { type: "submit", "data-i18n": "password.submit" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (form.next.value !== form.again.value) {
      error.textContent = t("password.mismatch");
      return;
    }
    try {
      const user = await api.post("/api/v1/auth/password",
        { current_password: form.current.value, new_password: form.next.value });
      api.remember(user);
      form.remove();
      done();
    } catch (failure) {
      error.textContent = `${t("password.refused")} ${failure.message}`;
    }
  });
  apply(form);
  $("#login").after(form);
  form.current.focus();
}

export async function startPage({ api, roles, onEnter, onRender, onLeave }) {
  await useLocale(api.user?.locale || preferredLocale());
  const showLogin = () => {
    onLeave();
    $("#main").hidden = true;
    $("#login").hidden = false;
  };
  const enter = () => {
    $("#login").hidden = true;
    $("#main").hidden = false;
    onEnter();
  };
  api.onUnauthorized = showLogin;
  for (const button of document.querySelectorAll(".lang")) {
    button.addEventListener("click", async () => {
      const locale = await useLocale(otherLocale());
      if (api.signedIn) {
        api.put("/api/v1/auth/me/locale", { locale }).then((user) => api.remember(user), () => {});
      }
      onRender();
    });
  }
  $("#login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("#login-error").textContent = "";
    try {
      const user = await api.login(form.username.value, form.password.value);
      if (!roles.includes(user.role)) {
        await api.logout().catch(() => {}); // the cookie must not outlive the refusal
        $("#login-error").textContent = t("login.forbidden");
        return;
      }
      if (user.locale) await useLocale(user.locale);
      $("#login").hidden = true;
      if (user.must_change_password) choosePassword(api, enter);
      else enter();
    } catch {
      $("#login-error").textContent = t("login.failed");
    }
  });
  $("#logout").addEventListener("click", async () => {
    await api.logout().catch(() => {});
    location.reload();
  });
  if (api.signedIn && roles.includes(api.user.role)) {
    if (api.user.must_change_password) {
      $("#login").hidden = true;
      choosePassword(api, enter);
    } else enter();
  } else showLogin();
}
