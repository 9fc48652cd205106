// The care bureau's alert history: filter, page through, and export what is shown
// as CSV or XLSX (docs/reports.md). Exports are fetched (so a refusal shows as a
// message, not a broken download) and saved from memory rather than linked.

import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { currentLocale, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";

const api = new Api("carebell.board.session"); // the board's session: one log-in for all pages
const PAGE = 50;
const TYPES = ["help_button", "door_bell", "sos", "fall", "backup", "lift_assist", "phone_call"];
const SEVERITIES = ["critical", "high", "medium", "low"];
const state = { timezone: undefined, codes: [], offset: 0, page: null, message: null };

async function start() {
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
    onLeave: () => {},
  });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  const [settings, codes] = await Promise.all([
    api.get("/api/v1/board/settings"),
    api.get("/api/v1/board/closure-codes"),
  ]);
  state.timezone = settings.timezone;
  state.codes = codes;
  await load();
}

// Midnight of a date in the centre's time zone, with its offset, as the API wants.
function midnight(date) {
  const probe = new Date(`${date}T12:00:00Z`);
  const name = new Intl.DateTimeFormat("en", { timeZone: state.timezone, timeZoneName: "longOffset" })
    .formatToParts(probe)
    .find((p) => p.type === "timeZoneName").value; // "GMT+08:00" (or "GMT" for UTC)
  const offset = name === "GMT" ? "+00:00" : name.slice(3);
  return `${date}T00:00:00${offset}`;
}

function nextDay(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
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
  const response = await fetch(`/api/v1/reports/alerts.${kind}?${query()}`);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    state.message = ["action.failed", { why: body.detail || response.statusText }];
    render();
    return;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1];
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: name || `alerts.${kind}` });
  document.body.append(link);
  link.click();
  link.remove();
}

const when = (iso) =>
  iso
    ? new Intl.DateTimeFormat(currentLocale(), { dateStyle: "short", timeStyle: "short", timeZone: state.timezone })
        .format(new Date(iso))
    : "–";

function options(select, values, label) {
  const chosen = select.value;
  fill(select, h("option", { value: "" }, t("reports.any")), values.map((v) => h("option", { value: v }, label(v))));
  select.value = chosen;
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
}

start();
