// The caregivers' app: shift, location, offers, the active order and the day's visits.
// Actions go through a small outbox kept on the phone: taken offline, they are sent
// when the connection returns, each with a ref the server carries out once.

import { Api } from "../static/shared/api.js";
import { $, fill, h } from "../static/shared/dom.js";
import { apply, currentLocale, fmt, t } from "../static/shared/i18n.js";
import { startPage } from "../static/shared/page.js";
import { Live, beep, statusShownIn } from "../static/shared/live.js";
import { Softphone } from "../static/shared/softphone.js";

const api = new Api("carebell.app.session");
const OUTBOX = "carebell.app.outbox";
const ACTIVE = ["offered", "accepted", "en_route", "on_scene"];
const state = {
  onDuty: true,
  orders: new Map(),
  position: null,
  visits: [],
  busyVisit: null,
  message: "",
  closureCodes: [],
  closing: new Map(), // order id -> the code chosen and the note typed, kept across redraws
};
let live;
let phone;
let watchId;
let lastSent = 0;
// The orders read over REST may be older than a live event that overtook them: each
// live change of an order is numbered, and a list asked for before it leaves that order be.
let liveChanges = 0;
const changedLive = new Map(); // order id -> number of its last live change
const changedSince = (id, asked) => (changedLive.get(id) ?? 0) > asked;

// ---- start and sign-in -------------------------------------------------------

async function start() {
  $("#shift-toggle").addEventListener("click", toggleShift);
  // The shell opens without a connection (a lift, a basement); data stays live-only.
  navigator.serviceWorker?.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
  await startPage({
    api,
    roles: ["caregiver"],
    onEnter: enter,
    onRender: render,
    onLeave: () => live?.close(),
  });
}

async function enter() {
  $("#name").textContent = api.user.display_name || api.user.username;
  const id = api.user.caregiver_id;
  try {
    state.onDuty = (await api.get("/api/v1/me/shift")).on_duty;
    state.closureCodes = await api.get("/api/v1/me/closure-codes");
  } catch {
    /* offline: keep the last known */
  }
  phone = new Softphone({ api, send: (m) => live?.send(m), role: "guest", onChange: voiceChanged });
  try {
    await phone.init();
  } catch {
    /* offline: the defaults do until the next sign-in */
  }
  phone.mount($("#softphone"));
  live = new Live(`/ws/v1/caregivers/${id}`, {
    token: api.token,
    storageKey: `carebell.app.seq.${id}`,
    onMessage: received,
    onStatus: statusShownIn($("#live-status"), t),
    onOpen: () => {
      flushOutbox();
      sendPosition(true);
      loadOrders();
      loadVisits();
    },
    onResync: loadOrders,
    onDenied: () => api.onUnauthorized(),
  });
  live.connect();
  watchLocation();
  loadVisits();
  setInterval(renderCountdowns, 1000);
  render();
}

// ---- shift and location ----------------------------------------------------------

async function toggleShift() {
  const onDuty = !state.onDuty;
  await api.post("/api/v1/me/shift", { on_duty: onDuty });
  state.onDuty = onDuty;
  if (onDuty) sendPosition(true);
  render();
}

function watchLocation() {
  if (!navigator.geolocation) return;
  watchId = navigator.geolocation.watchPosition(
    (p) => {
      state.position = { lat: p.coords.latitude, lon: p.coords.longitude };
      sendPosition(false);
      render();
    },
    () => {
      state.position = null;
      render();
    },
    { enableHighAccuracy: true, maximumAge: 10_000 },
  );
}

// Positions go out at most every 5 s: enough for the matcher, kind to the battery.
function sendPosition(now) {
  if (!state.onDuty || !state.position) return;
  if (!now && Date.now() - lastSent < 5000) return;
  if (live?.send({ type: "position", ...state.position })) lastSent = Date.now();
}

// ---- orders --------------------------------------------------------------------

async function loadOrders() {
  try {
    const asked = liveChanges;
    const rows = await api.get("/api/v1/me/orders");
    const orders = new Map(rows.map((r) => [r.order.id, r]));
    for (const [id, row] of state.orders) {
      if (changedSince(id, asked)) orders.set(id, row); // the live event is newer
    }
    for (const id of orders.keys()) {
      if (changedSince(id, asked) && !state.orders.has(id)) orders.delete(id); // closed since
    }
    state.orders = orders;
    render();
  } catch {
    /* offline: the live stream fills in when it is back */
  }
}

async function loadVisits() {
  try {
    state.visits = await api.get("/api/v1/me/visits");
  } catch {
    state.visits = []; // no planned services on this server, or offline
  }
  render();
}

// The centre calling rings the phone as an offer does.
function voiceChanged(message) {
  if (message.type === "voice.offer" && phone.incoming) ring();
}

function received(message) {
  if (phone?.receive(message)) return;
  if (message.type === "reply" || message.type === "error") {
    settle(message);
    return;
  }
  if (message.type === "route.changed") {
    state.message = t("app.route_changed");
    loadVisits();
    return;
  }
  if (!message.order) return;
  const { order } = message;
  changedLive.set(order.id, ++liveChanges);
  const known = state.orders.get(order.id);
  if (ACTIVE.includes(order.state)) {
    state.orders.set(order.id, { order, alert: message.alert, elder: message.elder });
    if (order.state === "offered" && !known) ring();
  } else {
    state.orders.delete(order.id);
    if (order.state === "completed") state.message = t("app.completed_ok");
  }
  render();
}

function ring() {
  beep(4);
  navigator.vibrate?.([400, 150, 400, 150, 400]);
}

// ---- the outbox --------------------------------------------------------------------

const outbox = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
const saveOutbox = (items) => localStorage.setItem(OUTBOX, JSON.stringify(items));

function act(orderId, action, note, code) {
  const ref = crypto.randomUUID();
  const item = { type: "action", action, order_id: orderId, ref };
  if (note) item.note = note;
  if (code) item.code = code;
  saveOutbox([...outbox(), item]);
  state.message = "";
  flushOutbox();
  render();
}

function flushOutbox() {
  for (const item of outbox()) if (!live?.send(item)) break;
  render();
}

function settle(message) {
  if (!message.ref) return;
  saveOutbox(outbox().filter((item) => item.ref !== message.ref));
  if (message.type === "error") state.message = t("action.failed", { why: message.message });
  else if (message.backup_alert_id) state.message = t("app.help_sent");
  loadOrders();
}

// ---- rendering -------------------------------------------------------------------

function render() {
  phone?.render();
  apply(document);
  $("#shift-state").textContent = t(state.onDuty ? "app.on_shift" : "app.off_shift");
  $("#shift-toggle").textContent = t(state.onDuty ? "app.go_off" : "app.go_on");
  $("#location-state").textContent = t(state.position ? "app.sharing" : "app.no_location");
  const queued = outbox().length;
  $("#queued").hidden = queued === 0;
  $("#queued").textContent = t("app.queued", { n: queued });
  const rows = [...state.orders.values()];
  const offer = rows.find((r) => r.order.state === "offered");
  const active = rows.find((r) => r.order.state !== "offered");
  renderOffer(offer);
  renderOrder(active);
  $("#waiting").hidden = Boolean(offer || active);
  $("#waiting").textContent = t(state.onDuty ? "app.waiting" : "app.waiting_off");
  $("#message").textContent = state.message;
  renderVisits();
}

function pending(orderId) {
  return outbox().some((item) => item.order_id === orderId);
}

function renderOffer(row) {
  const section = $("#offer");
  section.hidden = !row;
  if (!row) return;
  const { order, alert, elder } = row;
  const reason = h("select", { id: "decline-reason" },
    ["busy", "too_far", "no_skill", "other"].map((r) => h("option", { value: r }, t(`app.decline.${r}`))),
  );
  const busy = pending(order.id);
  fill(section, 
    h("h2", {}, `${t("app.offer")} · ${t(`alertType.${alert.alert_type}`)}`),
    h("span", { class: `sev ${alert.severity}` }, t(`severity.${alert.severity}`)),
    h("b", {}, elder?.name || ""),
    h("span", {}, elder?.address || ""),
    h("span", {}, t("app.distance", { d: fmt.distance(order.distance_m), t: fmt.minutes(order.eta_s) })),
    h("span", { class: "countdown", dataset: { expires: order.expires_at || "" } }),
    h("button", { class: "big go", "data-action": "accept", disabled: busy, onclick: () => act(order.id, "accept") }, t("app.accept")),
    h("label", {}, t("app.decline_reason"), reason),
    h("button", {
      class: "big no",
      "data-action": "decline",
      disabled: busy,
      onclick: () => act(order.id, "decline", t(`app.decline.${reason.value}`)),
    }, t("app.decline")),
  );
  renderCountdowns();
}

function renderCountdowns() {
  for (const el of document.querySelectorAll(".countdown[data-expires]")) {
    if (!el.dataset.expires) continue;
    const left = (new Date(el.dataset.expires) - Date.now()) / 1000;
    el.textContent = t("app.expires_in", { t: fmt.duration(Math.max(0, left)) });
  }
}

function renderOrder(row) {
  const section = $("#order");
  section.hidden = !row;
  if (!row) return;
  const { order, alert, elder } = row;
  const busy = pending(order.id);
  // What the caregiver typed and chose survives the redraws until they complete.
  const kept = () => state.closing.get(order.id) || { code: "", note: "" };
  const keep = () => state.closing.set(order.id, { code: code.value, note: notes.value });
  const notes = h("textarea", { rows: 3, placeholder: t("app.outcome"), oninput: () => keep() });
  notes.value = kept().note;
  // Completing closes the alert: with a code from the configured list, as at the board.
  const code = h(
    "select",
    { "data-field": "closure-code", onchange: () => keep() },
    h("option", { value: "" }, t("action.closure_pick")),
    state.closureCodes.map((c) =>
      h("option", { value: c.code }, currentLocale() === "en" ? c.label_en : c.label_zh),
    ),
  );
  code.value = kept().code;
  const complete = () => {
    if (!code.value) {
      state.message = t("action.closure_needed");
      render();
      return;
    }
    act(order.id, "complete", notes.value, code.value);
  };
  const step = {
    accepted: h("button", { class: "big go", "data-action": "en_route", disabled: busy, onclick: () => act(order.id, "en_route") }, t("app.en_route")),
    en_route: h("button", { class: "big go", "data-action": "arrive", disabled: busy, onclick: () => act(order.id, "arrive") }, t("app.arrive")),
    on_scene: [
      code,
      notes,
      h("button", { class: "big go", "data-action": "complete", disabled: busy, onclick: complete }, t("app.complete")),
    ],
  }[order.state];
  fill(section, 
    h("h2", {}, `${t(`state.${order.state}`)} · ${t(`alertType.${alert.alert_type}`)}`),
    elder &&
      h("dl", {},
        [
          ["detail.elder", elder.name],
          ["detail.address", elder.address],
          ["detail.phone", elder.phone && h("a", { href: `tel:${elder.phone}` }, elder.phone)],
          ["detail.health", elder.notes],
          ["detail.access", elder.access_notes],
          ["detail.contact", elder.emergency_contact],
        ]
          .filter(([, v]) => v)
          .flatMap(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]),
      ),
    elder && h("a", { class: "big nav", href: `geo:${elder.lat},${elder.lon}?q=${elder.lat},${elder.lon}` }, t("app.navigate")),
    step,
    h("button", { class: "big help", "data-action": "need_help", disabled: busy, onclick: () => act(order.id, "need_help") }, t("app.need_help")),
  );
}

// A visit moves on with a plain request: planned → started (at the door) → done,
// or ends with an exception (nobody home, elder unwell) that alerts the call centre.
async function visitAction(visit, action, body) {
  state.busyVisit = visit.id;
  render();
  try {
    const done = await api.post(`/api/v1/me/visits/${visit.id}/${action}`, body);
    if (done.away_from_address) state.message = t("app.visit_away");
    else if (action === "exception") state.message = t("app.visit_reported");
  } catch (error) {
    state.message = t("action.failed", { why: error.message });
  }
  state.busyVisit = null;
  await loadVisits();
}

function visitButtons(v) {
  const busy = state.busyVisit === v.id;
  const notes = h("textarea", { rows: 2, placeholder: t("app.visit_notes") });
  if (v.state === "planned") {
    return [
      h("button", { class: "go", "data-visit-action": "start", disabled: busy || !state.position, onclick: () => visitAction(v, "start", state.position) }, t("app.visit_start")),
      h("button", { "data-visit-action": "nobody_home", disabled: busy, onclick: () => visitAction(v, "exception", { kind: "nobody_home", notes: "" }) }, t("app.visit_nobody_home")),
    ];
  }
  if (v.state === "in_progress") {
    return [
      notes,
      h("button", { class: "go", "data-visit-action": "finish", disabled: busy, onclick: () => visitAction(v, "finish", { notes: notes.value }) }, t("app.visit_finish")),
      h("button", { class: "help", "data-visit-action": "elder_unwell", disabled: busy, onclick: () => visitAction(v, "exception", { kind: "elder_unwell", notes: notes.value }) }, t("app.visit_unwell")),
    ];
  }
  return [h("span", { class: "muted" }, t(`visit.${v.state}`))];
}

function renderVisits() {
  const list = $("#visits");
  const zh = document.documentElement.lang === "zh-CN";
  fill(list,
    ...state.visits.map((v) =>
      h("li", { "data-visit": v.id, "data-state": v.state },
        h("b", {}, `${fmt.hm(v.planned_start || v.window_start)} · ${zh ? v.service_label_zh : v.service_label_en}`),
        h("div", { class: "muted" }, `${v.elder_name} · ${v.elder_address}`),
        v.access_notes && h("div", { class: "muted" }, v.access_notes),
        h("div", { class: "visit-actions" }, ...visitButtons(v)),
      ),
    ),
  );
  $("#visits-none").hidden = state.visits.length > 0;
}

start();
