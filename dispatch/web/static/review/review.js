// The supervisor's call review (the TEC quality framework: two audited calls per
// call handler per month): draw the month's sample, listen to each call's
// recording where the bureau records calls, and write the review note.

import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { currentLocale, fmt, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";

const api = new Api("carebell.board.session"); // the board's session: one log-in for all pages
const state = { month: "", timezone: undefined, calls: [], message: null }; // message: [key, vars]

async function start() {
  $("#month-form").addEventListener("submit", (event) => {
    event.preventDefault();
    draw();
  });
  $("#month-form [name=month]").addEventListener("change", (event) => {
    state.month = event.target.value;
    load();
  });
  await startPage({
    api,
    roles: ["supervisor", "admin"],
    onEnter: enter,
    onRender: render,
    onLeave: () => {},
  });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  // This month in the city's time zone, as the server counts months.
  const { timezone } = await api.get("/api/v1/board/settings");
  state.timezone = timezone;
  const parts = new Intl.DateTimeFormat("en", { timeZone: timezone, year: "numeric", month: "2-digit" })
    .formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  state.month = state.month || `${part("year")}-${part("month")}`;
  $("#month-form [name=month]").value = state.month;
  await load();
}

async function load() {
  state.calls = await api.get(`/api/v1/calls/review-sample?month=${state.month}`);
  render();
}

async function draw() {
  try {
    const before = state.calls.length;
    state.calls = await api.post(`/api/v1/calls/review-sample?month=${state.month}`);
    const added = state.calls.length - before;
    state.message = added > 0 ? ["review.drawn", { n: added }] : ["review.nothing_to_draw"];
  } catch (error) {
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

async function saveNote(call, form, button) {
  const note = form.querySelector("textarea").value.trim();
  if (!note) return;
  button.disabled = true;
  try {
    const saved = await api.put(`/api/v1/calls/${call.id}/review`, { note });
    state.calls = state.calls.map((c) => (c.id === call.id ? saved : c));
    state.message = ["review.saved"];
  } catch (error) {
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

// Recordings are fetched (in the session's cookie), then played from memory.
async function play(call, button) {
  const response = await fetch(`/api/v1/calls/${call.id}/recording`);
  if (!response.ok) {
    state.message = ["review.no_recording"];
    render();
    return;
  }
  const player = h("audio", { controls: true, autoplay: true, class: "recording" });
  player.src = URL.createObjectURL(await response.blob());
  button.replaceWith(player);
}

const when = (iso) =>
  new Intl.DateTimeFormat(currentLocale(), { dateStyle: "medium", timeStyle: "short", timeZone: state.timezone })
    .format(new Date(iso));

function callItem(call) {
  const reviewed = Boolean(call.review_note);
  const form = h(
    "form",
    { class: "row" },
    h("textarea", { name: "note", maxlength: 4000, "aria-label": t("review.note") }, call.review_note || ""),
  );
  const save = h("button", { type: "submit", class: "primary", "data-review": "save" }, t("review.save"));
  form.append(save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveNote(call, form, save);
  });
  const talk = call.talk_s != null ? t("voice.talked", { t: fmt.clock(call.talk_s) }) : t("voice.unanswered");
  const playButton =
    call.recording && h("button", { type: "button", "data-review": "play", onclick: (e) => play(call, e.target) }, t("review.play"));
  return h(
    "li",
    { class: "call", "data-call": call.id, "data-reviewed": String(reviewed) },
    h(
      "div",
      { class: "facts" },
      h("span", { class: "who" }, call.elder_name || call.parties.join(", ")),
      call.alert_type && h("span", {}, t(`alertType.${call.alert_type}`)),
      h("span", {}, when(call.started_at)),
      h("span", {}, talk),
      call.end_reason && call.end_reason !== "hung_up" && h("span", {}, t(`voice.ended.${call.end_reason}`)),
    ),
    h(
      "div",
      { class: "row" },
      h("span", { class: "status" }, reviewed ? t("review.reviewed_by", { who: call.reviewed_by }) : t("review.to_review")),
      playButton || h("span", { class: "muted" }, t("review.no_recording")),
    ),
    form,
  );
}

function render() {
  $("#message").textContent = state.message ? t(...state.message) : "";
  const byOperator = new Map();
  for (const call of state.calls) {
    if (!byOperator.has(call.host)) byOperator.set(call.host, []);
    byOperator.get(call.host).push(call);
  }
  $("#none").hidden = state.calls.length > 0;
  fill(
    $("#operators"),
    ...[...byOperator.keys()].sort().map((host) => {
      const calls = byOperator.get(host);
      const done = calls.filter((c) => c.review_note).length;
      return h(
        "section",
        { "data-operator": host },
        h(
          "h2",
          {},
          h("span", {}, host),
          h("span", { class: "muted" }, t("review.progress", { done, n: calls.length })),
        ),
        h("ol", { class: "calls" }, calls.map(callItem)),
      );
    }),
  );
}

start();
