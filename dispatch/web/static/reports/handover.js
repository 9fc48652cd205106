// The shift hand-over: the hand-overs waiting for this operator (acknowledge one to
// take the desk), what is on the desk now, and handing it over with notes.

import { $, fill, h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { api, when } from "./common.js";

const state = { pending: [], recent: [], desk: null, message: null };

export function init() {
  $("#shift-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await api.post("/api/v1/shift-handovers", { notes: form.notes.value });
      form.notes.value = "";
      state.message = ["shift.handed"];
    } catch (error) {
      state.message = ["action.failed", { why: error.message }];
    }
    await load();
  });
}

export async function enter() {
  await load();
}

// The tab shows how many hand-overs wait for this operator, from any tab.
export async function refreshBadge() {
  try {
    const pending = await api.get("/api/v1/shift-handovers?pending=true");
    state.pending = pending.filter((x) => x.handed_by !== api.user.username);
  } catch {
    return;
  }
  badge();
}

function badge() {
  const tab = document.querySelector('.tabs [data-tab="handover"]');
  if (state.pending.length) tab.dataset.count = String(state.pending.length);
  else delete tab.dataset.count;
}

export function leave() {
  state.pending = [];
  state.recent = [];
  state.desk = null;
}

async function load() {
  try {
    const [pending, recent, desk] = await Promise.all([
      api.get("/api/v1/shift-handovers?pending=true"),
      api.get("/api/v1/shift-handovers"),
      api.get("/api/v1/shift-handovers/now"),
    ]);
    state.pending = pending.filter((x) => x.handed_by !== api.user.username);
    const waiting = new Set(state.pending.map((x) => x.id));
    state.recent = recent.filter((x) => !waiting.has(x.id)).slice(0, 10);
    state.desk = desk;
  } catch (error) {
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

async function acknowledge(id) {
  try {
    await api.post(`/api/v1/shift-handovers/${id}/acknowledge`);
    state.message = ["shift.taken"];
  } catch (error) {
    state.message = ["action.failed", { why: error.message }];
  }
  await load();
}

const area = (a) => [a.district, a.street, a.community].filter(Boolean).join(" / ") || "–";

function alertList(alerts) {
  if (!alerts.length) return h("p", { class: "muted" }, t("shift.no_open"));
  return h("ul", { class: "shift-alerts" }, alerts.map((a) =>
    h("li", { "data-alert": a.alert_id },
      h("strong", {}, `${t(`alertType.${a.alert_type}`)} · ${t(`severity.${a.severity}`)}`),
      ` ${area(a)} · ${t(`state.${a.state}`)} · ${when(a.raised_at)}`,
      a.acknowledged_by ? ` · ${a.acknowledged_by}` : "")));
}

function callbackList(callbacks) {
  if (!callbacks.length) return null;
  return h("div", {},
    h("h4", {}, t("shift.callbacks", { n: callbacks.length })),
    h("ul", { class: "shift-alerts" }, callbacks.map((c) =>
      h("li", { "data-callback": c.alert_id }, `${when(c.at)} · ${c.by || "–"}`, c.note ? ` · ${c.note}` : ""))));
}

function card(record, { pending }) {
  return h(
    "article",
    { class: "shift-card", "data-handover": record.id, "data-pending": pending ? "yes" : null },
    h("header", {},
      h("strong", {}, t("shift.from", { who: record.handed_by, time: when(record.handed_at) })),
      record.acknowledged_by
        ? h("span", { class: "taken" }, t("shift.taken_by", { who: record.acknowledged_by, time: when(record.acknowledged_at) }))
        : null),
    record.notes ? h("p", { class: "notes" }, record.notes) : null,
    h("h4", {}, t("shift.open_alerts", { n: record.open_alerts.length })),
    alertList(record.open_alerts),
    callbackList(record.callbacks_due),
    pending
      ? h("button", { type: "button", class: "primary", onclick: () => acknowledge(record.id) }, t("shift.acknowledge"))
      : null,
  );
}

export function render() {
  badge();
  if (state.message) $("#message").textContent = t(...state.message);
  fill($("#shift-pending"),
    state.pending.length ? state.pending.map((r) => card(r, { pending: true })) : h("p", { class: "muted" }, t("shift.none_pending")));
  const desk = state.desk;
  fill($("#shift-desk"), desk
    ? [h("h4", {}, t("shift.open_alerts", { n: desk.open_alerts.length })), alertList(desk.open_alerts), callbackList(desk.callbacks_due)]
    : null);
  fill($("#shift-recent"),
    state.recent.length ? state.recent.map((r) => card(r, { pending: false })) : h("p", { class: "muted" }, t("shift.none")));
}
