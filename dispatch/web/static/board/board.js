// The operators' live board: queue, map, alert detail and actions, live over WebSockets.

import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { apply, currentLocale, fmt, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";
import { Live, beep, statusShownIn } from "../shared/live.js";
import { CityMap } from "./map.js";
import { Softphone, talkButton } from "../shared/softphone.js";
import { PhoneLine } from "../shared/phoneline.js";

const BOARD_ROLES = ["operator", "supervisor", "admin"];

const api = new Api("carebell.board.session");
const state = {
  alerts: new Map(), // open alerts by id
  answering: new Map(), // alert id -> {talks, answered_at} as the KPIs count "answered"
  caregivers: new Map(), // id -> {id, name, lat, lon, state}
  checked: new Set(),
  selected: null,
  card: null,
  // From /api/v1/board/settings: alarm timings and the queue's rules (open states,
  // what counts as answered, urgency), which the server applies too.
  settings: null,
  closureCodes: [], // from /api/v1/board/closure-codes: {code, label_en, label_zh}
  closing: new Map(), // alert id -> {code, note} chosen but not yet sent
  alarmed: new Map(), // alert id -> how many times it has sounded
  kpis: null,
};
let map;
let live;
let phone;
let line; // the phone line, where the centre has a SIP phone system
// A list read over REST may be older than a live event that overtook it: each live
// change of an alert is numbered, and a list asked for before it leaves that alert be.
let liveChanges = 0;
const changedLive = new Map(); // alert id -> number of its last live change
const changedSince = (id, asked) => (changedLive.get(id) ?? 0) > asked;

const age = (iso) => (Date.now() - new Date(iso).getTime()) / 1000;
const unacknowledged = (a) => !a.acknowledged_at;
const isOpen = (a) => state.settings.open_states.includes(a.state);
// Taken: an operator owns it, or a caregiver accepted it (no more re-alerts).
const isTaken = (a) => !unacknowledged(a) || state.settings.answered_states.includes(a.state);
// Answered, as the KPIs count it (the server decides: GET /api/v1/board/answered):
// for a device that talks, when a voice call with it connected; otherwise when taken.
const answered = (a) => state.answering.get(a.id)?.answered_at != null;

// The server's sort=urgency order (dispatch/domain/urgency.py), for live updates.
function urgency(a, b) {
  const rules = state.settings;
  const top = (x) => (x.state === rules.first_when_untaken && unacknowledged(x) ? 0 : 1);
  const weight = (x) => rules.severity_weight[x.severity] || 0;
  return top(a) - top(b) || weight(b) - weight(a) || new Date(a.raised_at) - new Date(b.raised_at);
}

// ---- start and sign-in -------------------------------------------------------

async function start() {
  await startPage({
    api,
    roles: BOARD_ROLES,
    onEnter: enter,
    onRender: render,
    onLeave: () => live?.close(),
  });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  $("#to-review").hidden = !["supervisor", "admin"].includes(api.user.role);
  $("#to-caremap").hidden = !["supervisor", "admin"].includes(api.user.role);
  state.settings = await api.get("/api/v1/board/settings");
  state.closureCodes = await api.get("/api/v1/board/closure-codes");
  map = map || new CityMap($("#map"));
  map.areas(await api.get("/api/v1/map/areas"));
  $("#select-all").addEventListener("change", (e) => {
    state.checked = e.target.checked ? new Set(state.alerts.keys()) : new Set();
    renderQueue();
  });
  $("#bulk-ack").addEventListener("click", bulkAcknowledge);
  await Promise.all([loadAlerts(), loadCaregivers(), loadKpis(), loadOffline()]);
  phone = new Softphone({
    api,
    send: (m) => live?.send(m),
    role: "host",
    names: partyName,
    onDial: (party, alertId) => alertId && state.selected !== alertId && select(alertId),
    contacts: () =>
      [...state.caregivers.values()]
        .filter((c) => c.name && c.state !== "off_shift")
        .map((c) => ({ party: `caregiver:${c.id}`, name: c.name })),
  });
  await phone.init();
  phone.mount($("#softphone"));
  if (phone.config.phone) startPhoneLine(phone.config);
  live = new Live("/ws/v1/board", {
    token: api.token,
    storageKey: `carebell.board.seq.${api.user.username}`,
    onMessage: received,
    onStatus: statusShownIn($("#live-status"), t),
    onResync: () => loadAlerts(),
    onOpen: () => loadAlerts(), // a snapshot after every (re)connect: nothing stays stale
    onDenied: () => api.onUnauthorized(),
  });
  live.connect();
  setInterval(tick, 1000);
  setInterval(loadCaregivers, 10_000);
  setInterval(loadKpis, 15_000);
  setInterval(loadOffline, 30_000);
}

// ---- data --------------------------------------------------------------------

async function loadAlerts() {
  const query = new URLSearchParams({ sort: "urgency", limit: "500" });
  for (const s of state.settings.open_states) query.append("status", s);
  const asked = liveChanges;
  const alerts = await api.get(`/api/v1/alerts?${query}`);
  const ids = new Set(alerts.map((a) => a.id));
  for (const id of state.alerts.keys()) if (!ids.has(id) && !changedSince(id, asked)) forget(id);
  for (const a of alerts) {
    if (changedSince(a.id, asked)) continue; // the live event is newer than this list
    state.alerts.set(a.id, a);
    map.alert(a, select);
  }
  renderQueue();
  loadAnswering();
}

async function loadOffline() {
  const devices = await api.get("/api/v1/map/devices-offline");
  map.offline(devices, (d) => `${d.device_id} · ${d.elder} · ${t("detail.device_offline")}`);
}

async function loadCaregivers() {
  for (const c of await api.get("/api/v1/caregivers/live")) {
    state.caregivers.set(c.id, c);
    map.caregiver(c, `${c.name} · ${t(`caregiver.${c.state}`)}`);
  }
}

let kpiTimer;
function loadKpisSoon() {
  clearTimeout(kpiTimer);
  kpiTimer = setTimeout(() => {
    loadKpis();
    loadAnswering();
  }, 400);
}

// Which open alerts are answered as the KPIs count it: the queue's countdown agrees.
async function loadAnswering() {
  const rows = await api.get("/api/v1/board/answered");
  state.answering = new Map(rows.map((r) => [r.alert_id, r]));
  tick();
}

async function loadKpis() {
  state.kpis = await api.get("/api/v1/kpis/today");
  renderKpis();
}

function forget(id) {
  state.alerts.delete(id);
  state.checked.delete(id);
  state.alarmed.delete(id);
  map.removeAlert(id);
}

function startPhoneLine(config) {
  line = new PhoneLine({
    api,
    send: (m) => live?.send(m),
    config: config.phone,
    loopback: config.loopback_only,
    user: api.user.username,
    onPop: async (caller) => {
      await loadAlerts();
      await select(caller.alert_id);
    },
  });
  $("#phoneline").hidden = false;
  line.mount($("#phoneline"));
  line.start().catch((error) => console.warn("phone line:", error));
}

// A call's party as the operator knows them: the elder, or the caregiver's name.
function partyName(party) {
  const [kind, id] = party.split(":");
  if (kind === "caregiver") return state.caregivers.get(id)?.name;
  const card = state.card;
  if (kind === "device" && card?.device?.id === id && card.elder) return `${card.elder.name} · ${id}`;
  if (kind === "phone") return card?.voice?.dial === id && card.elder ? `${card.elder.name} · ${id}` : id;
  return null;
}

function received(message) {
  if (phone?.receive(message)) {
    if (message.type === "voice.call" && ["connected", "ended"].includes(message.state) && state.selected) {
      loadCard(state.selected);
    }
    return;
  }
  if (message.type === "caregiver.position") {
    const c = state.caregivers.get(message.caregiver_id) || {
      id: message.caregiver_id,
      name: "",
      state: "free",
    };
    Object.assign(c, { lat: message.lat, lon: message.lon });
    state.caregivers.set(c.id, c);
    map.caregiver(c, `${c.name} · ${t(`caregiver.${c.state}`)}`);
    return;
  }
  const alert = message.alert;
  if (!alert) return;
  changedLive.set(alert.id, ++liveChanges);
  const isNew = !state.alerts.has(alert.id);
  if (isOpen(alert)) {
    state.alerts.set(alert.id, alert);
    map.alert(alert, select);
    if (isNew) announce(alert);
  } else {
    forget(alert.id);
  }
  if (message.order) loadCaregivers();
  renderQueue();
  loadKpisSoon();
  if (state.selected === alert.id) loadCard(alert.id);
}

// A new urgent alert sounds and flashes; quieter ones only flash.
function announce(alert) {
  if (alert.severity === "critical" || alert.severity === "high") beep(3);
  state.alarmed.set(alert.id, 0);
  requestAnimationFrame(() => {
    const row = document.querySelector(`.alert[data-id="${alert.id}"]`);
    row?.classList.add("flash");
  });
}

// ---- the queue ---------------------------------------------------------------

function renderQueue() {
  const list = $("#queue");
  const alerts = [...state.alerts.values()].sort(urgency);
  fill(list, ...alerts.map(queueRow));
  $("#queue-empty").hidden = alerts.length > 0;
  $("#bulk-ack").disabled = state.checked.size === 0;
  tick();
}

function queueRow(a) {
  const checkbox = h("input", {
    type: "checkbox",
    checked: state.checked.has(a.id),
    onclick: (e) => e.stopPropagation(),
    onchange: (e) => {
      if (e.target.checked) state.checked.add(a.id);
      else state.checked.delete(a.id);
      $("#bulk-ack").disabled = state.checked.size === 0;
    },
  });
  const taken = a.acknowledged_by ? t("queue.answered_by", { name: a.acknowledged_by }) : null;
  return h(
    "li",
    {
      class: `alert ${a.severity}${isTaken(a) ? "" : " unack"}${
        state.selected === a.id ? " selected" : ""
      }`,
      dataset: { id: a.id, state: a.state },
      onclick: () => select(a.id),
    },
    checkbox,
    h(
      "div",
      { class: "what" },
      h("b", {}, t(`alertType.${a.alert_type}`)),
      h(
        "span",
        { class: "meta" },
        [a.district, a.device_id, a.press_count > 1 ? t("queue.presses", { n: a.press_count }) : null]
          .filter(Boolean)
          .join(" · "),
      ),
    ),
    h(
      "div",
      { class: "timers" },
      h("span", { class: "answer" }),
      h("span", { class: "arrive" }),
    ),
    h(
      "div",
      { class: "state-line" },
      h("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`)),
      h("span", { class: "badge state" }, t(`state.${a.state}`)),
      taken && h("span", {}, taken),
      h("span", { class: "badge supervisor", hidden: true }, t("queue.supervisor")),
    ),
  );
}

// Every second: countdowns, re-alerts for what nobody has taken, escalation badges.
function tick() {
  $("#clock").textContent = fmt.time(new Date().toISOString());
  const { realert_s, escalate_after_s, answer_target_s } = state.settings;
  for (const row of document.querySelectorAll(".alert")) {
    const a = state.alerts.get(row.dataset.id);
    if (!a) continue;
    const waited = age(a.raised_at);
    const answer = row.querySelector(".answer");
    if (!answered(a)) {
      const left = answer_target_s - waited;
      answer.textContent = t(left >= 0 ? "queue.answer_in" : "queue.answer_overdue", {
        t: fmt.duration(left),
      });
      answer.classList.toggle("overdue", left < 0);
    } else {
      answer.textContent = "";
    }
    if (!isTaken(a)) {
      const due = Math.floor(waited / realert_s);
      if (due > (state.alarmed.get(a.id) ?? 0)) {
        state.alarmed.set(a.id, due);
        beep(2);
        row.classList.remove("flash");
        void row.offsetWidth; // restart the animation
        row.classList.add("flash");
      }
      row.querySelector(".supervisor").hidden = waited < escalate_after_s;
    } else {
      row.querySelector(".supervisor").hidden = true;
    }
    const arrive = row.querySelector(".arrive");
    if (a.state === "on_scene") {
      arrive.textContent = "";
    } else {
      const left = -age(a.deadline_at);
      arrive.textContent = t(left >= 0 ? "queue.arrive_in" : "queue.arrive_overdue", {
        t: fmt.duration(left),
      });
      arrive.classList.toggle("overdue", left < 0);
    }
  }
}

function renderKpis() {
  const k = state.kpis;
  if (!k) return;
  const show = {
    open_alerts: fmt.number(k.open_alerts),
    answer_p50_s: fmt.seconds(k.answer_p50_s),
    answer_p975_s: fmt.seconds(k.answer_p975_s),
    answered_within_target: fmt.percent(k.answered_within_target),
    reached_within_deadline: fmt.percent(k.reached_within_deadline),
    caregivers_available: fmt.number(k.caregivers_available),
    devices_offline: fmt.number(k.devices_offline),
  };
  for (const [key, text] of Object.entries(show)) {
    const tile = document.querySelector(`[data-kpi="${key}"]`);
    const value = tile.querySelector("b");
    if (value.textContent !== text) {
      value.textContent = text;
      tile.classList.remove("changed");
      void tile.offsetWidth;
      tile.classList.add("changed");
    }
  }
  const late = k.answered_within_target != null && k.answered_within_target < 0.975;
  document.querySelector('[data-kpi="answered_within_target"]').classList.toggle("bad", late);
}

async function bulkAcknowledge() {
  const alert_ids = [...state.checked];
  await api.post("/api/v1/alerts/acknowledge", { alert_ids });
  state.checked.clear();
  $("#select-all").checked = false;
  await loadAlerts();
}

// ---- the detail panel ---------------------------------------------------------

async function select(id) {
  state.selected = id;
  renderQueue();
  const a = state.alerts.get(id);
  if (a) map.focus(a.lat, a.lon);
  await loadCard(id);
}

async function loadCard(id) {
  state.card = await api.get(`/api/v1/alerts/${id}/card`);
  renderDetail();
}

function render() {
  apply(document);
  renderQueue();
  renderKpis();
  renderDetail();
  phone?.render();
  line?.render();
}

// The card is drawn anew on each of its alert's live steps; what the operator was
// typing or picking there, and where the cursor was, is carried over to the new one.
const drafts = { alertId: null, values: new Map(), focus: null };

function keepDrafts(panel, alertId) {
  const sameAlert = drafts.alertId === alertId;
  if (!sameAlert) Object.assign(drafts, { alertId, values: new Map(), focus: null });
  // What the page last told the operator ("choose a closure code first") stays, too.
  drafts.message = sameAlert ? (panel.querySelector(".message")?.textContent ?? "") : "";
  for (const field of panel.querySelectorAll("[data-field]")) drafts.values.set(field.dataset.field, field.value);
  const active = document.activeElement;
  drafts.focus = panel.contains(active) && active.dataset.field
    ? { field: active.dataset.field, start: active.selectionStart, end: active.selectionEnd }
    : null;
}

function restoreValues(panel) {
  for (const field of panel.querySelectorAll("[data-field]")) {
    const value = drafts.values.get(field.dataset.field);
    if (value !== undefined && [...(field.options || [{ value }])].some((o) => o.value === value)) {
      field.value = value;
    }
  }
}

function restoreDrafts(panel) {
  restoreValues(panel);
  const focus = drafts.focus && panel.querySelector(`[data-field="${drafts.focus.field}"]`);
  if (focus) {
    focus.focus();
    if (drafts.focus.start != null) focus.setSelectionRange?.(drafts.focus.start, drafts.focus.end);
  }
}

function renderDetail() {
  const panel = $("#detail");
  const card = state.card;
  if (!card || card.alert.id !== state.selected) {
    fill(panel, h("p", { class: "empty" }, t("detail.none")));
    return;
  }
  const a = card.alert;
  keepDrafts(panel, a.id);
  const message = h("p", { class: "message", role: "status" }, drafts.message);
  fill(panel, 
    h("h2", {}, t(`alertType.${a.alert_type}`)),
    h(
      "p",
      {},
      h("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`)),
      " ",
      h("span", { class: "badge" }, t(`state.${a.state}`)),
      " ",
      fmt.time(a.raised_at),
    ),
    // Once resolved or cancelled nobody needs to act: no red banner.
    a.escalation_reason &&
      isOpen(a) &&
      h(
        "p",
        { class: "escalation" },
        t("detail.escalation", { why: t(`escalation.${a.escalation_reason}`) }),
      ),
    isOpen(a) ? actions(a, message) : null,
    message,
    elderSection(card.elder),
    deviceSection(card.device),
    ordersSection(card.orders),
    matcherSection(card.timeline),
    callsSection(card.calls || []),
    timelineSection(card.timeline),
  );
  restoreDrafts(panel);
}

function actions(a, message) {
  const act = async (path, body) => {
    message.textContent = "";
    try {
      await api.post(`/api/v1/alerts/${a.id}/${path}`, body);
      message.textContent = t("action.done");
      note.value = escalateReason.value = ""; // sent: not a draft to carry over
      await Promise.all([loadCard(a.id), loadAlerts()]);
    } catch (error) {
      message.textContent = t("action.failed", { why: error.message });
    }
  };
  const input = (placeholder) => h("input", { placeholder: t(placeholder) });
  const note = h("textarea", { rows: 2, "data-field": "note", placeholder: t("action.note_placeholder") });
  const outcome = h(
    "select",
    { "data-field": "callback-outcome" },
    ["reached_ok", "reached_needs_help", "no_answer", "false_alarm"].map((o) =>
      h("option", { value: o }, t(`callback.${o}`)),
    ),
  );
  const free = [...state.caregivers.values()].filter((c) => c.state === "free");
  const pick = h(
    "select",
    { "data-field": "assign-pick" },
    h("option", { value: "" }, t("action.assign_pick")),
    free.map((c) => h("option", { value: c.id }, c.name)),
  );
  const escalateReason = input("action.reason_placeholder");
  escalateReason.dataset.field = "escalate-reason";
  // Closing asks why, from the configured closure codes, so reports can count them.
  const closeCode = h(
    "select",
    {
      "data-field": "closure-code",
      onchange: () => {
        message.textContent = "";
        keepClosing();
      },
    },
    h("option", { value: "" }, t("action.closure_pick")),
    state.closureCodes.map((c) =>
      h("option", { value: c.code }, currentLocale() === "en" ? c.label_en : c.label_zh),
    ),
  );
  const closeNote = h("input", {
    "data-field": "closure-note",
    placeholder: t("action.closure_note"),
    oninput: () => keepClosing(),
  });
  // A live event redraws the card: what the operator chose so far survives it.
  const kept = state.closing.get(a.id);
  if (kept) [closeCode.value, closeNote.value] = [kept.code, kept.note];
  function keepClosing() {
    state.closing.set(a.id, { code: closeCode.value, note: closeNote.value });
  }
  const closing = (path) => {
    if (!closeCode.value) {
      message.textContent = t("action.closure_needed");
      return;
    }
    if (path === "cancel") {
      if (!closeNote.value) {
        message.textContent = t("action.closure_reason_needed");
        return;
      }
      act("cancel", { code: closeCode.value, reason: closeNote.value });
    } else {
      act("resolve", { code: closeCode.value, note: closeNote.value });
    }
  };
  return h(
    "div",
    { class: "actions" },
    talkButton(phone, a, state.card.voice),
    unacknowledged(a) &&
      h(
        "button",
        { class: "primary", "data-action": "acknowledge", onclick: () => act("acknowledge") },
        t("action.acknowledge"),
      ),
    h(
      "div",
      { class: "row" },
      note,
      h("button", { onclick: () => note.value && act("notes", { text: note.value }) }, t("action.note")),
    ),
    h(
      "div",
      { class: "row" },
      outcome,
      h("button", { onclick: () => act("callback", { outcome: outcome.value }) }, t("action.callback")),
    ),
    h(
      "div",
      { class: "row" },
      pick,
      h(
        "button",
        { onclick: () => pick.value && act("assign", { caregiver_id: pick.value }) },
        t("action.assign"),
      ),
    ),
    h(
      "button",
      { "data-action": "cascade", onclick: () => act("cascade") },
      t("action.cascade"),
    ),
    h(
      "div",
      { class: "row" },
      escalateReason,
      h(
        "button",
        { onclick: () => escalateReason.value && act("escalate", { reason: escalateReason.value }) },
        t("action.escalate"),
      ),
    ),
    handoverPanel(a, message),
    h(
      "div",
      { class: "row closing" },
      closeCode,
      closeNote,
      h("button", { "data-action": "resolve", onclick: () => closing("resolve") }, t("action.resolve")),
      h(
        "button",
        { class: "danger", "data-action": "cancel", onclick: () => closing("cancel") },
        t("action.cancel"),
      ),
    ),
  );
}

function facts(rows) {
  return h(
    "dl",
    {},
    rows.filter(([, value]) => value).flatMap(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, value)]),
  );
}

function elderSection(elder) {
  if (!elder) return null;
  return [
    h("h3", {}, t("detail.elder")),
    facts([
      ["detail.elder", elder.name],
      ["detail.address", elder.address],
      ["detail.phone", elder.phone && phoneNumber(elder.phone)],
      ["detail.health", elder.notes],
      ["detail.contact", elder.emergency_contact],
      ["detail.access", elder.access_notes],
    ]),
  ];
}

// The elder's number: dialled from the board's phone line where there is one.
function phoneNumber(number) {
  if (!line) return h("a", { href: `tel:${number}` }, number);
  return h(
    "span",
    {},
    number,
    " ",
    h(
      "button",
      {
        class: "small",
        "data-phone": "dial",
        onclick: () => line.dial(state.card?.voice?.dial || number, { alertId: state.selected }),
      },
      t("phone.dial"),
    ),
  );
}

function deviceSection(device) {
  if (!device) return null;
  const online =
    device.online == null
      ? t("detail.device_unknown")
      : t(device.online ? "detail.device_online" : "detail.device_offline");
  const seen = device.last_seen_at ? t("detail.last_seen", { t: fmt.time(device.last_seen_at) }) : "";
  return [
    h("h3", {}, t("detail.device")),
    facts([["detail.device", `${device.id} · ${online} ${seen}`]]),
  ];
}

function ordersSection(orders) {
  if (!orders.length) return null;
  return [
    h("h3", {}, t("detail.orders")),
    h(
      "ul",
      { class: "timeline" },
      orders.map((o) =>
        h(
          "li",
          {},
          h("span", { class: `cg ${o.state}` }, state.caregivers.get(o.caregiver_id)?.name || o.caregiver_id.slice(0, 8)),
          ["accepted", "en_route", "on_scene"].includes(o.state) &&
            h(
              "button",
              {
                class: "small",
                "data-voice": "call-caregiver",
                onclick: () => phone.dial(`caregiver:${o.caregiver_id}`, { alertId: o.alert_id }),
              },
              t(phone?.call ? "voice.add_to_call" : "voice.call"),
            ),
          h(
            "span",
            {},
            `${t(`state.${o.state}`)} · ${t("detail.eta", {
              t: fmt.minutes(o.eta_s),
              d: fmt.distance(o.distance_m),
            })}`,
          ),
        ),
      ),
    ),
  ];
}

function matcherSection(timeline) {
  const offers = timeline.filter((r) => r.entity === "order" && r.to_state === "offered" && r.detail);
  if (!offers.length) return null;
  return [
    h("h3", {}, t("detail.matcher")),
    h(
      "ul",
      { class: "timeline" },
      offers.map((r) =>
        h("li", {}, h("time", {}, fmt.time(r.at)), h("span", {}, [r.detail.reason, r.detail.chosen].filter(Boolean).join(" — "))),
      ),
    ),
  ];
}

function actorLabel(actor) {
  const [kind, who] = actor.split(":");
  if (kind === "system") return t("actor.system");
  if (kind === "device") return `${t("actor.device")} ${who}`;
  if (kind === "caregiver") return state.caregivers.get(who)?.name || who.slice(0, 8);
  if (kind === "family") return t("actor.family");
  return who || actor;
}

// The alert's calls; a recorded one plays here for the roles allowed to hear it.
// A call on the card: how long they talked, or, while it lasts, where it stands.
function callProgress(c) {
  if (!c.ended_at) return t(c.answered_at ? "voice.state.connected" : "voice.state.ringing");
  return c.talk_s != null ? t("voice.talked", { t: fmt.clock(c.talk_s) }) : t("voice.unanswered");
}

function callsSection(calls) {
  if (!calls.length) return null;
  return [
    h("h3", {}, t("detail.calls")),
    h(
      "ul",
      { class: "timeline calls" },
      calls.map((c) =>
        h(
          "li",
          { "data-call": c.id },
          h("time", {}, fmt.time(c.started_at)),
          h(
            "span",
            {},
            [
              c.parties.map((p) => partyName(p) || p).join(", "),
              callProgress(c),
            ].join(" · "),
            " ",
            c.recording &&
              h("button", { class: "small", "data-call-play": c.id, onclick: (e) => playRecording(c.id, e.target) }, t("detail.play")),
          ),
        ),
      ),
    ),
  ];
}

// Recordings are fetched (in the session's cookie), then played from memory.
async function playRecording(callId, button) {
  const response = await fetch(`/api/v1/calls/${callId}/recording`);
  if (!response.ok) return;
  const player = h("audio", { controls: true, autoplay: true, class: "recording" });
  player.src = URL.createObjectURL(await response.blob());
  button.replaceWith(player);
}

// A call on the timeline: whom, and for how long it was talked.
function callText(record) {
  if (!record.action?.startsWith("call_")) return "";
  const whom = (record.detail.parties || []).map((p) => partyName(p) || p).join(", ");
  const talk = record.detail.talk_s != null ? t("voice.talked", { t: fmt.clock(record.detail.talk_s) }) : "";
  const ended = record.action === "call_ended" && !record.detail.answered_at ? t("voice.unanswered") : "";
  const cut = record.detail.end_reason === "server_restart" ? t("voice.ended.server_restart") : "";
  return [whom, talk, ended, cut].filter(Boolean).join(" · ");
}

// A caregiver's answer moves the order and the alert at once (two records): show
// the step once, as the order's line, which says who.
function oneLinePerStep(timeline) {
  const key = (r) => `${r.at}|${r.actor}|${r.to_state}`;
  const orderSteps = new Set(timeline.filter((r) => r.entity === "order" && !r.action).map(key));
  return timeline.filter((r) => r.entity !== "alert" || r.action || !orderSteps.has(key(r)));
}

function closureLabel(code) {
  const known = state.closureCodes.find((c) => c.code === code);
  if (!known) return code;
  return currentLocale() === "en" ? known.label_en : known.label_zh;
}

// The hand-over to 120 / 110 / 119: the sheet to read out on the phone, then
// the outcome and the arrival (the alert cannot close before the outcome).
function handoverPanel(a, message) {
  const panel = h("div", { class: "handover", "data-section": "handover" });
  const service = h(
    "select",
    { "data-field": "handover-service" },
    ["120", "110", "119"].map((s) => h("option", { value: s }, s)),
  );
  const outcome = h(
    "select",
    { "data-field": "handover-outcome" },
    ["dispatched", "advice_only", "refused", "transported"].map((o) => h("option", { value: o }, t(`handover.${o}`))),
  );
  const outcomeNote = h("input", { "data-field": "handover-note", placeholder: t("action.closure_note") });
  const post = async (path, body) => {
    message.textContent = "";
    try {
      await api.post(`/api/v1/alerts/${a.id}/${path}`, body);
      outcomeNote.value = "";
      await show();
      await loadCard(a.id);
    } catch (error) {
      message.textContent = t("action.failed", { why: error.message });
    }
  };
  const show = async () => {
    const view = await api.get(`/api/v1/alerts/${a.id}/handover`);
    if (!view.handovers.length) return;
    const last = view.handovers[view.handovers.length - 1];
    const e = view.sheet.elder || {};
    // The address often already names the building and room; add only what it lacks.
    const parts = [e.building, e.unit, e.room].filter((p) => p && !(e.address || "").includes(p));
    const where = [e.address, ...parts].filter(Boolean).join(" ");
    const position = view.sheet.device_position;
    fill(
      panel,
      h("h3", {}, t("handover.sheet", { service: last.service })),
      facts([
        ["detail.elder", [e.name, e.birth_date].filter(Boolean).join(" · ")],
        ["detail.address", where],
        ["detail.access", e.door_access],
        ["handover.position", position && `${position.lat.toFixed(5)}, ${position.lon.toFixed(5)}`],
        ["detail.health", e.health_notes],
        ["handover.medicines", e.medicines],
        ["handover.allergies", e.allergies],
        ["handover.family_doctor", e.family_doctor],
        [
          "detail.contact",
          view.sheet.contacts
            .map((c) => `${c.name}${c.relation ? ` (${c.relation})` : ""} ${c.phones.join(", ")}${c.key_holder ? ` · ${t("handover.key")}` : ""}`)
            .join("; "),
        ],
      ]),
      last.outcome
        ? h("p", {}, `${t(`handover.${last.outcome}`)}${last.outcome_note ? ` · ${last.outcome_note}` : ""}`)
        : h(
            "div",
            { class: "row closing" },
            outcome,
            outcomeNote,
            h(
              "button",
              { "data-action": "handover-outcome", onclick: () => post("handover/outcome", { outcome: outcome.value, note: outcomeNote.value }) },
              t("handover.record_outcome"),
            ),
          ),
      last.arrived_at
        ? h("p", {}, t("handover.arrived_at", { time: fmt.time(last.arrived_at) }))
        : h("button", { "data-action": "handover-arrived", onclick: () => post("handover/arrived", {}) }, t("handover.arrived")),
    );
    restoreValues(panel); // drawn after the card: the focus has moved on meanwhile
  };
  fill(
    panel,
    h(
      "div",
      { class: "row" },
      service,
      h(
        "button",
        { class: "danger", "data-action": "handover", onclick: () => post("handover", { service: service.value }) },
        t("handover.start"),
      ),
    ),
  );
  show().catch(() => {});
  return panel;
}

// A contact told of a step: who, of which step, and whether the message went out.
function notifiedText(d) {
  const status = t(`notify.${d.status}`);
  const step = ["handed_over", "cascade"].includes(d.step) ? t(`step.${d.step}`) : t(`state.${d.step}`);
  const what = `${d.contact} · ${step} · ${d.channel} ${status}`;
  return d.error ? `${what} (${d.error})` : what;
}

// A family member's answer on the family page: who, what, and how far they are
// beside the caregiver (when their phone said where it was), for the operator to decide.
function familyText(d) {
  const who = d.relation ? `${d.who} (${d.relation})` : d.who;
  const parts = [`${who}: ${t(`family.answer.${d.answer}`)}`];
  if (d.distance_m != null) parts.push(t("family.distance", { d: fmt.distance(d.distance_m) }));
  if (d.from === "home") parts.push(t("family.from_home"));
  if (d.caregiver_distance_m != null) {
    parts.push(t("family.caregiver_distance", { name: d.caregiver, d: fmt.distance(d.caregiver_distance_m) }));
  }
  if (d.nearer) parts.push(t("family.nearer"));
  if ((d.answers || []).includes("cascade")) parts.push(t("family.answers_cascade"));
  return parts.join(" · ");
}

// The responder cascade's steps: who will be asked in which order, who was asked,
// what they said (docs/contacts.md).
function cascadeText(r) {
  const d = r.detail || {};
  switch (r.action) {
    case "cascade_started": {
      const why = d.reason === "operator" ? t("cascade.by_operator") : d.reason;
      const alone = d.contacts_alone ? t("cascade.contacts_alone") : "";
      return [why, (d.order || []).join(" → "), alone].filter(Boolean).join(" · ");
    }
    case "cascade_asked":
      return t("cascade.round", { n: d.round, who: (d.contacts || []).join(", ") });
    case "cascade_answered":
      return [`${d.contact}: ${t(`cascade.answer.${d.answer}`)}`, d.via === "sms" ? t("cascade.via_sms") : ""]
        .filter(Boolean)
        .join(" · ");
    case "cascade_exhausted":
      return t("cascade.exhausted", { n: d.asked });
    default:
      return "";
  }
}

function timelineSection(timeline) {
  return [
    h("h3", {}, t("detail.timeline")),
    h(
      "ol",
      { class: "timeline" },
      oneLinePerStep(timeline).map((r) => {
        const step = r.action
          ? t(`step.${r.action}`)
          : `${r.entity === "order" ? "→ " : ""}${t(`state.${r.to_state}`)}`;
        const kind = r.action === "handover_outcome" ? "handover" : "callback";
        const outcome = r.detail?.outcome ? t(`${kind}.${r.detail.outcome}`) : "";
        const code = r.detail?.code ? closureLabel(r.detail.code) : "";
        const service = r.detail?.service ? t("handover.to", { service: r.detail.service }) : "";
        const notice = r.action === "notified" ? notifiedText(r.detail) : "";
        const family = r.action === "family_answer" ? familyText(r.detail) : "";
        const cascade = r.action?.startsWith("cascade_") ? cascadeText(r) : "";
        const reason = cascade ? "" : r.detail?.reason;
        const extra = [service, outcome, code, notice, family, cascade, callText(r), reason, r.detail?.note, r.detail?.text]
          .filter(Boolean)
          .join(" · ");
        return h(
          "li",
          {},
          h("time", {}, fmt.time(r.at)),
          h("span", {}, `${actorLabel(r.actor)} · ${step}${extra ? ` · ${extra}` : ""}`),
        );
      }),
    ),
  ];
}

start();
