// The visit history: filter, page through and export the visits (docs/reports.md).

import { $, fill, h } from "../shared/dom.js";
import { currentLocale, t } from "../shared/i18n.js";
import { api, clock, download, options } from "./common.js";

const PAGE = 50;
const STATES = ["scheduled", "planned", "in_progress", "done", "missed", "cancelled"];
const EXCEPTIONS = ["nobody_home", "elder_unwell"];
const state = { menu: null, offset: 0, page: null, message: null, loaded: false };

export function init() {
  const form = $("#visit-filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.offset = 0;
    load();
  });
  $("#visits-previous").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    load();
  });
  $("#visits-next").addEventListener("click", () => {
    state.offset += PAGE;
    load();
  });
  for (const kind of ["csv", "xlsx"]) {
    $(`#visits-${kind}`).addEventListener("click", async () => {
      const failed = await download(`/api/v1/reports/visits.${kind}?${query()}`, `visits.${kind}`);
      state.message = failed ? ["action.failed", { why: failed }] : null;
      render();
    });
  }
}

export async function enter() {
  if (state.loaded) return render();
  state.loaded = true;
  try {
    state.menu = await api.get("/api/v1/services/menu");
  } catch {
    state.menu = { items: [] };
  }
  await load();
}

function query() {
  const form = $("#visit-filters");
  const params = new URLSearchParams();
  // The visit's day is the centre's date: "to" takes the whole last day.
  if (form.since.value) params.set("since", form.since.value);
  if (form.until.value) {
    const d = new Date(`${form.until.value}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1);
    params.set("until", d.toISOString().slice(0, 10));
  }
  for (const name of ["area", "service", "state", "exception", "away"]) {
    const value = form[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

async function load() {
  const params = query();
  params.set("limit", PAGE);
  params.set("offset", state.offset);
  try {
    state.page = await api.get(`/api/v1/reports/visits?${params}`);
    state.message = null;
  } catch (error) {
    state.page = null;
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

function serviceLabel(code) {
  const item = state.menu?.items.find((i) => i.code === code);
  if (!item) return code;
  return currentLocale() === "zh-CN" ? item.label_zh : item.label_en || item.label_zh;
}

const exceptionLabel = (code) => t(`visits.exception.${code}`);

function row(item) {
  const area = [item.district, item.street, item.community].filter(Boolean).join(" / ");
  const people = [item.caregiver, item.partner].filter(Boolean).join(" + ");
  const times = item.started_at
    ? `${clock(item.started_at)}–${item.finished_at ? clock(item.finished_at) : ""}`
    : item.planned_start
      ? t("visits.planned_at", { time: clock(item.planned_start) })
      : "–";
  return h(
    "tr",
    { "data-visit": item.visit_id },
    h("td", {}, item.day),
    h("td", {}, serviceLabel(item.service)),
    h("td", {}, area || "–"),
    h("td", {}, people || "–", item.provider ? h("div", { class: "muted" }, item.provider) : null),
    h("td", { "data-state": item.state }, t(`visit.${item.state}`)),
    h("td", { "data-away": item.away_from_address ? "yes" : null },
      times, item.away_from_address ? h("div", {}, t("visits.away_yes")) : null),
    h("td", {}, item.exception ? exceptionLabel(item.exception) : "–"),
    h("td", {}, item.satisfaction == null ? "–" : `${item.satisfaction} / 5`),
  );
}

export function render() {
  const form = $("#visit-filters");
  options(form.service, (state.menu?.items || []).map((i) => i.code), serviceLabel);
  options(form.state, STATES, (v) => t(`visit.${v}`));
  options(form.exception, EXCEPTIONS, exceptionLabel);
  options(form.away, ["true", "false"], (v) => t(v === "true" ? "visits.away_yes" : "visits.away_no"));
  if (state.message) $("#message").textContent = t(...state.message);
  const page = state.page;
  const items = page ? page.items : [];
  fill($("#visits tbody"), items.map(row));
  $("#visit-count").textContent = page
    ? page.total === 0
      ? t("visits.none")
      : t("reports.count", { from: page.offset + 1, to: page.offset + items.length, total: page.total })
    : "";
  $("#visits-previous").disabled = !page || page.offset === 0;
  $("#visits-next").disabled = !page || page.offset + items.length >= page.total;
}
