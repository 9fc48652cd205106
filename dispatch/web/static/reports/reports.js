// The care bureau's reports (docs/reports.md), one section a tab: the alert history
// (filter, page through, export as CSV or XLSX), the visit history, the monthly
// report (supervisors) and the shift hand-over. Exports are fetched (so a refusal
// shows as a message, not a broken download) and saved from memory rather than linked.

import { $, fill, h } from "../shared/dom.js";
import { currentLocale, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";
import { api, centre, download as save, midnight, nextDay, options, when } from "./common.js";
import * as handover from "./handover.js";
import * as monthly from "./monthly.js";
import * as visits from "./visits.js";

const PAGE = 50;
const SECTIONS = { alerts: null, visits, monthly, handover };
const TYPES = ["help_button", "door_bell", "sos", "fall", "backup", "lift_assist", "phone_call"];
const SEVERITIES = ["critical", "high", "medium", "low"];
const state = { codes: [], offset: 0, page: null, message: null, tab: "alerts" };

// The section in the address (#visits), so a link or a reload opens it again.
function wantedTab() {
  const name = location.hash.slice(1);
  const button = document.querySelector(`.tabs [data-tab="${name}"]`);
  return button && !button.hidden ? name : "alerts";
}

async function show(name) {
  state.tab = name;
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.classList.toggle("on", button.dataset.tab === name);
    button.setAttribute("aria-pressed", String(button.dataset.tab === name));
  }
  for (const section of Object.keys(SECTIONS)) $(`#tab-${section}`).hidden = section !== name;
  if (location.hash.slice(1) !== name) history.replaceState(null, "", `#${name}`);
  state.message = null;
  render();
  if (SECTIONS[name]) await SECTIONS[name].enter();
}

async function start() {
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.addEventListener("click", () => show(button.dataset.tab));
  }
  window.addEventListener("hashchange", () => show(wantedTab()));
  visits.init();
  monthly.init();
  handover.init();
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.offset = 0;
    load();
  });
  $("#previous").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    load();
  });
  $("#next").addEventListener("click", () => {
    state.offset += PAGE;
    load();
  });
  $("#export-csv").addEventListener("click", () => download("csv"));
  $("#export-xlsx").addEventListener("click", () => download("xlsx"));
  await startPage({
    api,
    roles: ["operator", "supervisor", "admin"],
    onEnter: enter,
    onRender: render,
    onLeave: () => handover.leave(),
  });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  // The monthly report is the supervisors' (the API answers others 403).
  for (const button of document.querySelectorAll(".tabs [data-roles]")) {
    button.hidden = !button.dataset.roles.split(" ").includes(api.user.role);
  }
  const [settings, codes] = await Promise.all([
    api.get("/api/v1/board/settings"),
    api.get("/api/v1/board/closure-codes"),
  ]);
  centre.timezone = settings.timezone;
  state.codes = codes;
  monthly.useCodes(codes);
  handover.refreshBadge();
  await load();
  await show(wantedTab());
}

function query() {
  const form = $("#filters");
  const params = new URLSearchParams();
  if (form.since.value) params.set("since", midnight(form.since.value));
  if (form.until.value) params.set("until", midnight(nextDay(form.until.value))); // the whole last day
  for (const name of ["area", "type", "severity", "closure_code", "operator", "reached"]) {
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
    state.page = await api.get(`/api/v1/reports/alerts?${params}`);
    state.message = null;
  } catch (error) {
    state.page = null;
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

async function download(kind) {
  const failed = await save(`/api/v1/reports/alerts.${kind}?${query()}`, `alerts.${kind}`);
  if (failed) {
    state.message = ["action.failed", { why: failed }];
    render();
  }
}

function codeLabel(code) {
  const found = state.codes.find((c) => c.code === code);
  if (!found) return code || "–";
  return currentLocale() === "zh-CN" ? found.label_zh : found.label_en || found.label_zh;
}

function row(item) {
  const reached = item.reached_by_deadline == null ? "" : item.reached_by_deadline ? "yes" : "no";
  const area = [item.district, item.street, item.community].filter(Boolean).join(" / ");
  return h(
    "tr",
    { "data-alert": item.alert_id },
    h("td", {}, when(item.raised_at)),
    h("td", {}, `${t(`alertType.${item.alert_type}`)} · ${t(`severity.${item.severity}`)}`),
    h("td", {}, area || "–"),
    h("td", {}, item.acknowledged_by || "–"),
    h("td", {}, item.caregivers.join(", ") || "–"),
    h("td", { "data-reached": reached || null }, reached ? t(`reports.reached_${reached}`) : t("reports.not_judged")),
    h("td", {}, item.closed_at ? `${when(item.closed_at)} · ${codeLabel(item.closure_code)}` : t(`state.${item.state}`)),
  );
}

function render() {
  const form = $("#filters");
  options(form.type, TYPES, (v) => t(`alertType.${v}`));
  options(form.severity, SEVERITIES, (v) => t(`severity.${v}`));
  options(form.closure_code, state.codes.map((c) => c.code), codeLabel);
  options(form.reached, ["true", "false"], (v) => t(v === "true" ? "reports.reached_yes" : "reports.reached_no"));
  $("#message").textContent = state.message ? t(...state.message) : "";
  const page = state.page;
  const items = page ? page.items : [];
  fill($("#history tbody"), items.map(row));
  $("#count").textContent = page
    ? page.total === 0
      ? t("reports.none")
      : t("reports.count", { from: page.offset + 1, to: page.offset + items.length, total: page.total })
    : "";
  $("#previous").disabled = !page || page.offset === 0;
  $("#next").disabled = !page || page.offset + items.length >= page.total;
  if (SECTIONS[state.tab]) SECTIONS[state.tab].render();
}

start();
