// The monthly report per district or for the city (supervisors): the month's KPIs
// beside the month before and the target, the closure codes, and the trend charts
// the server draws (the same drawings as the PDF's).

import { $, fill, h } from "../shared/dom.js";
import { currentLocale, fmt, t } from "../shared/i18n.js";
import { api, download } from "./common.js";

// The KPIs in the report's order; shares are fractions (0.975), shown as percent.
const TILES = [
  "answered_within_60s",
  "reached_by_deadline",
  "within_15_min",
  "visit_coverage",
  "satisfaction_mean",
  "false_alarm_rate",
  "device_availability",
  "alerts",
];
const TARGETS = { answered_within_60s: 0.975, visit_coverage: 1 };
// What each share was counted over (the basis line under the figure).
const BASIS = {
  answered_within_60s: "alerts",
  reached_by_deadline: "caregiver_sent",
  visit_coverage: "visit_elders",
  satisfaction_mean: "follow_ups_rated",
  false_alarm_rate: "closed",
};
const state = { asked: 0, report: null, districts: [], codes: [], message: null, loaded: false, busy: false };

export const useCodes = (codes) => {
  state.codes = codes;
};

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

export function init() {
  $("#monthly-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("#monthly-pdf").addEventListener("click", async () => {
    const form = $("#monthly-form");
    const params = new URLSearchParams({ month: form.month.value, lang: currentLocale() });
    if (form.district.value) params.set("area", form.district.value);
    state.busy = true;
    render();
    const failed = await download(`/api/v1/reports/monthly.pdf?${params}`, `carebell-${form.month.value}.pdf`);
    state.busy = false;
    state.message = failed ? ["action.failed", { why: failed }] : null;
    render();
  });
}

export async function enter() {
  if (state.loaded) return render();
  state.loaded = true;
  const form = $("#monthly-form");
  if (!form.month.value) form.month.value = thisMonth();
  try {
    const areas = await api.get("/api/v1/areas");
    state.districts = areas.filter((a) => a.level === "district").map((a) => a.key);
  } catch {
    state.districts = [];
  }
  await load();
}

async function load() {
  const form = $("#monthly-form");
  const params = new URLSearchParams({ month: form.month.value });
  if (form.district.value) params.set("district", form.district.value);
  // Only the latest question's answer is shown: an earlier, slower one is dropped.
  const asked = ++state.asked;
  state.busy = true;
  render();
  let report = null;
  let message = null;
  try {
    report = await api.get(`/api/v1/reports/monthly/charts?${params}`);
  } catch (error) {
    message = ["action.failed", { why: error.message }];
  }
  if (asked !== state.asked) return;
  Object.assign(state, { report, message, busy: false });
  render();
}

const shown = (key, value) =>
  key === "alerts" ? fmt.number(value) : key === "satisfaction_mean" ? fmt.number(value, 2) : fmt.percent(value);

function tile(key, now, before) {
  const value = now[key];
  const target = TARGETS[key];
  const missed = target != null && value != null && value < target;
  const basis = BASIS[key] ? t(`monthly.basis.${key}`, { n: fmt.number(now[BASIS[key]]) }) : "";
  return h(
    "div",
    // Against a target: met (green) or missed (red); without one, neutral.
    { class: "tile", "data-kpi": key, "data-missed": target == null || value == null ? null : missed ? "yes" : "no" },
    h("div", { class: "label" }, t(`monthly.kpi.${key}`)),
    h("div", { class: "value" }, value == null ? "–" : shown(key, value)),
    h("div", { class: "muted" },
      before ? t("monthly.before", { value: before[key] == null ? "–" : shown(key, before[key]) }) : "",
      target != null ? ` · ${t("monthly.target", { value: fmt.percent(target) })}` : ""),
    basis ? h("div", { class: "muted" }, basis) : null,
  );
}

function codeLabel(code) {
  const found = state.codes.find((c) => c.code === code);
  if (!found) return code;
  return currentLocale() === "zh-CN" ? found.label_zh : found.label_en || found.label_zh;
}

function chart(key, svg) {
  const source = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  return h(
    "figure",
    { class: "chart", "data-kpi": key },
    h("figcaption", {}, t(`monthly.kpi.${key}`)),
    h("img", { src: source, alt: t("monthly.chart_alt", { kpi: t(`monthly.kpi.${key}`) }) }),
  );
}

export function render() {
  const form = $("#monthly-form");
  const chosen = form.district.value;
  fill(form.district, h("option", { value: "" }, t("monthly.city")),
    state.districts.map((d) => h("option", { value: d }, d)));
  form.district.value = chosen;
  $("#monthly-pdf").disabled = state.busy;
  if (state.message) $("#message").textContent = t(...state.message);
  const report = state.report;
  if (!report) {
    fill($("#monthly-tiles"), state.busy ? h("p", { class: "muted" }, t("monthly.loading")) : null);
    fill($("#monthly-codes tbody"));
    fill($("#monthly-charts"));
    $("#monthly-heading").textContent = "";
    return;
  }
  const now = report.kpis;
  const before = report.trend.length > 1 ? report.trend[report.trend.length - 2] : null;
  $("#monthly-heading").textContent = t("monthly.heading", {
    month: report.month,
    area: report.district || t("monthly.city"),
  });
  fill($("#monthly-tiles"), TILES.map((key) => tile(key, now, before)));
  const codes = Object.entries(now.closed_by_code).sort((a, b) => b[1] - a[1]);
  fill(
    $("#monthly-codes tbody"),
    codes.length
      ? codes.map(([code, n]) =>
          h("tr", { "data-code": code },
            h("td", {}, codeLabel(code)),
            h("td", { class: "num" }, fmt.number(n)),
            h("td", { class: "num" }, fmt.percent(n / now.closed))))
      : h("tr", {}, h("td", {}, t("monthly.no_codes"))),
  );
  fill($("#monthly-charts"), Object.entries(report.charts).map(([key, svg]) => chart(key, svg)));
}
