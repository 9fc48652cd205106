// Planned home services for the call centre: today's routes, requests to decide,
// follow-up calls to make, this month's regular-visit coverage and the statement.

import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { apply, currentLocale, fmt, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";

const api = new Api("carebell.board.session"); // the board's session: one log-in for both
const state = { routes: null, requests: [], followups: [], coverage: null, menu: null, message: "" };
const eldersShown = new Map(); // what the elder field's list offers -> elder id

const label = (v) => (currentLocale() === "zh-CN" ? v.service_label_zh : v.service_label_en);

async function start() {
  $("#plan-today").addEventListener("click", planToday);
  $("#statement").addEventListener("click", downloadStatement);
  $("#new-request").addEventListener("submit", submitRequest);
  $("#new-request [name=elder]").addEventListener("input", (e) => findElders(e.target.value));
  await startPage({
    api,
    roles: ["operator", "supervisor", "admin"],
    onEnter: enter,
    onRender: render,
    onLeave: () => {},
  });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  state.menu = await api.get("/api/v1/services/menu");
  await load();
  $("#new-request [name=first_day]").value = state.routes.day; // the city's today
}

async function load() {
  const [routes, requests, followups, coverage] = await Promise.all([
    api.get("/api/v1/planning/today/routes"),
    api.get("/api/v1/service-requests?state=requested"),
    api.get("/api/v1/follow-ups"),
    api.get("/api/v1/reports/coverage"),
  ]);
  Object.assign(state, { routes, requests, followups, coverage });
  render();
}

async function run(work, done) {
  try {
    await work();
    state.message = t(done);
  } catch (error) {
    state.message = t("action.failed", { why: error.message });
  }
  await load();
}

const planToday = () =>
  run(() => api.post("/api/v1/planning/today", { time_limit_s: 10 }), "services.planned");

const decide = (request, verdict, reason) =>
  run(() => api.post(`/api/v1/service-requests/${request.id}/${verdict}`, { reason }), "services.saved");

function recordCall(call, form) {
  const reached = form.querySelector("[name=reached]").checked;
  const body = { reached, comment: form.querySelector("[name=comment]").value };
  if (reached) body.satisfaction = Number(form.querySelector("[name=satisfaction]").value);
  return run(() => api.post(`/api/v1/follow-ups/${call.visit_id}`, body), "services.saved");
}

// The elder is picked by name, phone or address from what the registry finds.
async function findElders(text) {
  if (text.trim().length < 1 || eldersShown.has(text)) return;
  const found = await api.get(`/api/v1/elders?q=${encodeURIComponent(text.trim())}&limit=20`);
  eldersShown.clear();
  const options = found.map((e) => {
    const shown = `${e.name} · ${e.phone} · ${e.address}`;
    eldersShown.set(shown, e.id);
    return h("option", { value: shown });
  });
  fill($("#elders"), ...options);
}

async function submitRequest(event) {
  event.preventDefault();
  const form = event.target;
  const value = (name) => form.querySelector(`[name=${name}]`).value;
  const elderId = eldersShown.get(value("elder"));
  if (!elderId) {
    state.message = t("services.elder_pick");
    render();
    return;
  }
  const body = {
    elder_id: elderId,
    item: value("item"),
    source: value("source"),
    requested_by: value("requested_by"),
    first_day: value("first_day"),
    weekdays: [...form.querySelectorAll("[name=weekday]:checked")].map((box) => Number(box.value)),
    window_start: value("window_start"),
    window_end: value("window_end"),
    notes: value("notes"),
  };
  await run(async () => {
    await api.post("/api/v1/service-requests", body);
    form.reset();
    form.querySelector("[name=first_day]").value = state.routes.day;
  }, "services.request_saved");
}

async function downloadStatement() {
  const month = state.coverage.month; // the city's month, not the browser's
  const response = await fetch(`/api/v1/reports/statements?month=${month}&format=csv`);
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `statement-${month}.csv` });
  link.click();
}

function render() {
  apply(document);
  $("#message").textContent = state.message;
  if (!state.routes) return;
  fill($("#routes"),
    ...state.routes.routes.map((r) =>
      h("tr", { "data-caregiver": r.caregiver_id },
        h("td", {}, r.caregiver_name),
        h("td", {}, r.visits.map((v) => `${fmt.hm(v.planned_start)} ${label(v)}`).join(" · ")),
        h("td", {}, `${r.visits.filter((v) => v.state === "done").length}/${r.visits.length}`),
      ),
    ),
  );
  $("#unplanned").textContent = t("services.unplanned", { n: state.routes.unplanned.length });
  const item = $("#new-request [name=item]");
  const chosen = item.value;
  fill(item, ...state.menu.items.map((i) =>
    h("option", { value: i.code }, `${currentLocale() === "zh-CN" ? i.label_zh : i.label_en} · ¥${i.price_yuan}`)));
  if (chosen) item.value = chosen;
  fill($("#requests"), ...state.requests.map(requestCard));
  $("#requests-none").hidden = state.requests.length > 0;
  fill($("#followups"), ...state.followups.map(followUpCard));
  $("#followups-none").hidden = state.followups.length > 0;
  const c = state.coverage;
  $("#coverage").textContent = t("services.coverage_line", { percent: fmt.number(c.percent, 1), visited: c.visited, flagged: c.flagged });
  fill($("#at-risk"), ...c.at_risk.map((e) => h("li", { class: "risk" }, `${t("services.at_risk")} · ${e.name} · ${e.phone} · ${e.address}`)));
}

function requestCard(r) {
  const reason = h("input", { name: "reason", placeholder: t("services.reason") });
  return h("li", { "data-request": r.id },
    h("b", {}, `${r.item} · ${r.source} · ${r.requested_by}`),
    h("span", { class: "muted" }, `${r.first_day} ${r.window_start}–${r.window_end} ${r.weekdays.join(",")}`),
    h("div", { class: "row" },
      reason,
      h("button", { onclick: () => decide(r, "approve", reason.value) }, t("services.approve")),
      h("button", { onclick: () => decide(r, "refuse", reason.value) }, t("services.refuse")),
    ),
  );
}

function followUpCard(call) {
  const v = call.visit;
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); recordCall(call, form); } },
    h("label", {}, h("input", { type: "checkbox", name: "reached", checked: true }), t("services.reached")),
    h("select", { name: "satisfaction" }, ...[5, 4, 3, 2, 1].map((n) => h("option", { value: n }, `${n} ★`))),
    h("input", { name: "comment", placeholder: t("services.comment") }),
    h("button", { type: "submit" }, t("services.save")),
  );
  return h("li", { "data-followup": call.visit_id },
    h("b", {}, `${v.elder_name} · ${v.elder_phone}`),
    h("span", { class: "muted" }, `${v.day} · ${label(v)} · ${t(`services.reason_${call.reason}`)}`),
    form,
  );
}

start();
