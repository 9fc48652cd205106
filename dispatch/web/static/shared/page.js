// What both pages do alike: sign in (for the roles the page serves), switch the
// language (remembered on the account), sign out, and back to the form on a 401.

import { $ } from "./dom.js";
import { otherLocale, preferredLocale, t, useLocale } from "./i18n.js";

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
      if (api.token) {
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
        api.forget();
        $("#login-error").textContent = t("login.forbidden");
        return;
      }
      if (user.locale) await useLocale(user.locale);
      enter();
    } catch {
      $("#login-error").textContent = t("login.failed");
    }
  });
  $("#logout").addEventListener("click", async () => {
    await api.logout().catch(() => {});
    location.reload();
  });
  if (api.token && roles.includes(api.user.role)) enter();
  else showLogin();
}
