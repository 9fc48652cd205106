// The family page: a family member follows their elder's alerts as they happen,
// told as a short story, and answers "I am going" or "I cannot come". The socket
// says that something happened; the story itself is read over REST, so a missed
// message never leaves the page wrong for longer than the next one.

import { Api } from "../static/shared/api.js";
import { $, fill, h } from "../static/shared/dom.js";
import { currentLocale, fmt, t } from "../static/shared/i18n.js";
import { startPage } from "../static/shared/page.js";
import { Live, beep, statusShownIn } from "../static/shared/live.js";

const api = new Api("carebell.family.session");
const state = { elders: [], alerts: [], message: "", sending: new Set() };
let live;
let asked = 0; // the newest list asked for: an older answer arriving late is dropped

async function start() {
  $("#link").addEventListener("submit", linkByCode);
  navigator.serviceWorker?.register("/family/sw.js", { scope: "/family/" }).catch(() => {});
  await startPage({
    api,
    roles: ["family"],
    onEnter: enter,
    onRender: render,
    onLeave: () => live?.close(),
  });
}

function enter() {
  $("#name").textContent = api.user.display_name || api.user.username;
  live = new Live("/ws/v1/family", {
    token: api.token,
    storageKey: `carebell.family.seq.${api.user.username}`,
    onMessage: received,
    onStatus: statusShownIn($("#live-status"), t),
    onOpen: load,
    onResync: load,
    onDenied: () => api.onUnauthorized(),
  });
  live.connect();
  load();
}

function received(message) {
  if (message.type !== "family.step") return;
  if (message.step === "alert.raised") beep(3);
  loadAlerts();
}

async function load() {
  try {
    state.elders = await api.get("/api/v1/family/elders");
  } catch {
    /* offline: keep what is shown */
  }
  await loadAlerts();
}

async function loadAlerts() {
  const mine = ++asked;
  try {
    const alerts = await api.get("/api/v1/family/alerts");
    if (mine !== asked) return;
    state.alerts = alerts;
  } catch {
    /* offline: the socket reloads them when it is back */
  }
  render();
}

// ---- answers and invitation codes ---------------------------------------------------

// Where the phone is, if its holder lets the page know within a few seconds: the
// operator then sees how far they are beside the caregiver. Never required.
function position() {
  if (!navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 5000, maximumAge: 60_000 },
    );
  });
}

async function answer(alertId, given) {
  state.sending.add(alertId);
  render();
  try {
    const where = given === "going" ? await position() : null;
    const told = await api.post(`/api/v1/family/alerts/${alertId}/answer`, { answer: given, ...where });
    state.alerts = state.alerts.map((a) => (a.id === told.id ? told : a));
    state.message = t("family.answered");
  } catch (failure) {
    state.message = t("family.answer_failed", { why: failure.message });
  } finally {
    state.sending.delete(alertId);
  }
  render();
}

async function linkByCode(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const linked = await api.post("/api/v1/family/link", { code: form.code.value });
    form.reset();
    state.message = t("family.code_done", { name: linked.elder_name });
    live?.reconnectNow(); // the socket reads the links when it opens
  } catch {
    state.message = t("family.code_refused");
  }
  await load();
}

// ---- drawing -------------------------------------------------------------------------

function codeLabel(line) {
  return line.code_label ? line.code_label[currentLocale()] : line.code;
}

function lineText(line) {
  const vars = { caregiver: line.caregiver, min: fmt.number(line.eta_min), service: line.service };
  switch (line.kind) {
    case "raised":
      return t("story.raised");
    case "accepted":
      return t("story.accepted", vars);
    case "en_route":
      return line.eta_min ? t("story.en_route", vars) : t("story.en_route_no_eta", vars);
    case "on_scene":
      return t("story.on_scene", vars);
    case "resolved":
      return line.code ? t("story.resolved_code", { code: codeLabel(line) }) : t("story.resolved");
    case "cancelled":
      return line.code ? t("story.cancelled_code", { code: codeLabel(line) }) : t("story.cancelled");
    case "handed_over":
      return t("story.handed_over", vars);
    case "ambulance_arrived":
      return t("story.ambulance_arrived");
    case "family_answer":
      return t("story.family_answer", { who: line.who, answer: t(`family.answer.${line.answer}`) });
    default:
      return line.kind;
  }
}

function card(alert) {
  const busy = state.sending.has(alert.id);
  return h(
    "article",
    { class: `card${alert.open ? " open" : ""}`, "data-alert": alert.id },
    h("h3", {}, `${alert.elder_name} · ${t(`alertType.${alert.alert_type}`)}`),
    h("span", { class: "badge" }, t(alert.open ? "family.open" : "family.closed")),
    h(
      "ol",
      { class: "story" },
      alert.story.map((line) =>
        h("li", { "data-kind": line.kind }, h("time", {}, fmt.hm(line.at)), h("span", {}, lineText(line))),
      ),
    ),
    alert.open &&
      h(
        "div",
        { class: "answers" },
        h("button", { class: "go", "data-answer": "going", disabled: busy, onclick: () => answer(alert.id, "going") },
          t("family.answer.going")),
        h("button", { class: "no", "data-answer": "cannot_come", disabled: busy, onclick: () => answer(alert.id, "cannot_come") },
          t("family.answer.cannot_come")),
      ),
  );
}

function render() {
  if (!api.user) return;
  fill($("#elders"), state.elders.map((e) => h("li", {}, e.relation ? `${e.elder_name} (${e.relation})` : e.elder_name)));
  $("#elders-none").hidden = state.elders.length > 0;
  fill($("#alerts"), state.alerts.map(card));
  $("#alerts-none").hidden = state.alerts.length > 0 || state.elders.length === 0;
  $("#message").textContent = state.message;
}

start();
