// Administration for a care bureau: accounts, areas, providers and facilities,
// elders' records, caregivers with their shifts, leave and certificates.
// Administrators only; every text comes from the catalogues.

import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { apply, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";

const api = new Api("carebell.board.session"); // one log-in for the board's pages
const state = {
  tab: "users", users: [], areas: [], elders: [], caregivers: [], providers: [], facilities: [],
  message: "", editing: null, caregiver: null,
};
const WEEKDAYS = ["1", "2", "3", "4", "5", "6", "7"]; // ISO: 1 is Monday
const CERTIFICATE_ROWS = 3;
const HARDSHIP = ["tekun", "dibao", "dibao_edge", "shidu", "kongchao", "liushou", "zhongcan", "gaoling"];
// The record's fields on the form: [name, input type, options].
const ELDER_FIELDS = [
  ["name", "text", { required: true, maxlength: 100 }],
  ["external_id", "text", { maxlength: 64 }],
  ["id_number", "text", { pattern: "\\d{17}[\\dXx]", maxlength: 18 }],
  ["birth_date", "date", {}],
  ["sex", "select", { choices: ["", "female", "male"] }],
  ["phone", "tel", { maxlength: 40 }],
  ["address", "text", { required: true, maxlength: 300 }],
  ["lat", "number", { required: true, step: "any" }],
  ["lon", "number", { required: true, step: "any" }],
  ["district", "text", { maxlength: 60 }],
  ["street", "text", { maxlength: 60 }],
  ["community", "text", { maxlength: 60 }],
  ["building", "text", { maxlength: 20 }],
  ["unit", "text", { maxlength: 20 }],
  ["room", "text", { maxlength: 20 }],
  ["living_situation", "select", { choices: ["", "alone", "with_spouse", "with_family"] }],
  ["economic_status", "text", { maxlength: 40 }],
  ["care_level", "number", { min: 0, max: 10 }],
  ["regular_visits", "checkbox", {}],
  ["heart_rate_min", "number", { min: 20, max: 250 }],
  ["heart_rate_max", "number", { min: 20, max: 250 }],
  ["geofence_radius_m", "number", { min: 1, step: "any" }],
  ["notes", "textarea", { maxlength: 2000 }],
  ["medicines", "textarea", { maxlength: 2000 }],
  ["allergies", "text", { maxlength: 1000 }],
  ["family_doctor", "text", { maxlength: 200 }],
  ["access_notes", "textarea", { maxlength: 1000 }],
];
// Sent at the top level of a change; the rest go in "fields".
const TOP = new Set(["name", "address", "lat", "lon"]);
const CONTACT_ROWS = 3;

async function start() {
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => show(button.dataset.tab));
  }
  $("#new-user").addEventListener("submit", createUser);
  $("#new-area").addEventListener("submit", createArea);
  $("#new-caregiver").addEventListener("submit", createCaregiver);
  $("#new-provider").addEventListener("submit", createProvider);
  $("#new-facility").addEventListener("submit", createFacility);
  $("#caregiver-form").addEventListener("submit", saveCaregiver);
  $("#caregiver-cancel").addEventListener("click", () => { state.caregiver = null; render(); });
  $("#add-leave").addEventListener("click", addLeave);
  $("#new-elder").addEventListener("click", () => editElder(null));
  $("#elder-form").addEventListener("submit", saveElder);
  $("#elder-cancel").addEventListener("click", () => { state.editing = null; render(); });
  $("#elder-deactivate").addEventListener("click", deactivateElder);
  $("#assess").addEventListener("click", assess);
  $("#bind-device").addEventListener("click", bindDevice);
  $("#elder-search").addEventListener("input", () => loadElders().then(render));
  for (const form of document.querySelectorAll("[data-kind]")) form.addEventListener("submit", importFile);
  await startPage({ api, roles: ["admin"], onEnter: enter, onRender: render, onLeave: () => {} });
}

async function enter() {
  $("#user").textContent = api.user.display_name || api.user.username;
  state.scale = await api.get("/api/v1/assessment-scale");
  await load();
}

async function loadElders() {
  const q = $("#elder-search").value.trim();
  state.elders = await api.get(`/api/v1/elders?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
}

async function load() {
  const [users, areas, caregivers, providers, facilities] = await Promise.all([
    api.get("/api/v1/users"),
    api.get("/api/v1/areas"),
    api.get("/api/v1/caregivers?limit=1000"),
    api.get("/api/v1/providers"),
    api.get("/api/v1/facilities"),
  ]);
  Object.assign(state, { users, areas, caregivers, providers, facilities });
  await loadElders();
  render();
}

async function run(work, done) {
  // What the last action said no longer stands while this one is under way.
  state.message = "";
  $("#message").textContent = "";
  try {
    const said = await work();
    state.message = typeof said === "string" ? said : t(done);
  } catch (error) {
    state.message = t("action.failed", { why: error.message });
  }
  await load();
}

function show(tab) {
  state.tab = tab;
  render();
}

// A new or reset account's one-time password is shown here once, to hand over.
const issued = (user) =>
  t("admin.one_time", { user: user.username, password: user.one_time_password });

function createUser(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    username: form.username.value.trim(),
    display_name: form.display_name.value.trim(),
    role: form.role.value,
    areas: [...form.areas.selectedOptions].map((o) => o.value),
  };
  if (body.role === "caregiver") body.caregiver_id = form.caregiver_id.value || null;
  if (body.role === "provider_staff") body.provider_id = form.provider_id.value || null;
  return run(async () => {
    const user = await api.post("/api/v1/users", body);
    form.reset();
    return issued(user);
  });
}

const patchUser = (user, change) =>
  run(async () => {
    const updated = await api.request("PATCH", `/api/v1/users/${encodeURIComponent(user.username)}`, change);
    return change.reset_password ? issued(updated) : t("services.saved");
  });

function createArea(event) {
  event.preventDefault();
  const form = event.target;
  const body = { name: form.name.value.trim(), parent: form.parent.value || null };
  return run(async () => {
    await api.post("/api/v1/areas", body);
    form.name.value = "";
  }, "services.saved");
}

function createCaregiver(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    name: form.name.value.trim(),
    phone: form.phone.value.trim(),
    skills: form.skills.value.split(/[,，\s]+/).filter(Boolean),
    shift_start: form.shift_start.value,
    shift_end: form.shift_end.value,
    transport: form.transport.value,
    home_lat: Number(form.home_lat.value),
    home_lon: Number(form.home_lon.value),
  };
  return run(async () => {
    await api.post("/api/v1/caregivers", body);
    form.reset();
  }, "services.saved");
}

function createProvider(event) {
  event.preventDefault();
  const form = event.target;
  const body = { name: form.name.value.trim(), phone: form.phone.value.trim(), address: form.address.value.trim() };
  return run(async () => {
    await api.post("/api/v1/providers", body);
    form.reset();
  }, "services.saved");
}

function createFacility(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    name: form.name.value.trim(),
    kind: form.kind.value,
    provider_id: form.provider_id.value || null,
    area: form.area.value,
    address: form.address.value.trim(),
    lat: Number(form.lat.value),
    lon: Number(form.lon.value),
    opening_hours: form.opening_hours.value.trim(),
  };
  return run(async () => {
    await api.post("/api/v1/facilities", body);
    form.reset();
  }, "services.saved");
}

// A caregiver's record: provider, station, skills, certificates, the daily shift or a
// weekly pattern, and leave days. Leave is kept on the draft until it is saved.
function editCaregiver(caregiver) {
  state.caregiver = caregiver ? { ...caregiver, leave_days: [...caregiver.leave_days] } : null;
  render();
  if (caregiver) $("#caregiver-form [name=name]").focus();
}

function addLeave() {
  const input = $("#caregiver-form [name=leave_day]");
  const day = input.value;
  const draft = state.caregiver;
  if (!draft || !day) return;
  if (!draft.leave_days.includes(day)) draft.leave_days = [...draft.leave_days, day].sort();
  input.value = "";
  renderLeave();
}

function removeLeave(day) {
  const draft = state.caregiver;
  draft.leave_days = draft.leave_days.filter((d) => d !== day);
  renderLeave();
}

function caregiverBody(form) {
  const weekly = {};
  for (const day of WEEKDAYS) {
    const row = form.querySelector(`[data-weekday="${day}"]`);
    if (row.querySelector("[name=works]").checked) {
      weekly[day] = [row.querySelector("[name=day_start]").value, row.querySelector("[name=day_end]").value];
    }
  }
  const certificates = [];
  for (const row of form.querySelectorAll(".certificate")) {
    const skill = row.querySelector("[name=cert_skill]").value.trim();
    if (!skill) continue;
    certificates.push({
      skill,
      name: row.querySelector("[name=cert_name]").value.trim(),
      expires_on: row.querySelector("[name=cert_expires]").value || null,
    });
  }
  const body = {
    name: form.name.value.trim(),
    phone: form.phone.value.trim(),
    transport: form.transport.value,
    skills: form.skills.value.split(/[,，\s]+/).filter(Boolean),
    active: form.active.checked,
    shift_start: form.shift_start.value,
    shift_end: form.shift_end.value,
    weekly_shifts: weekly,
    leave_days: state.caregiver.leave_days,
    certificates,
  };
  // Sent only when chosen anew: a record imported with a provider's name or a
  // station's position and no record of either keeps them.
  for (const key of ["provider_id", "station_id"]) {
    const chosen = form[key].value || null;
    if (chosen !== (state.caregiver[key] ?? null)) body[key] = chosen;
  }
  return body;
}

function saveCaregiver(event) {
  event.preventDefault();
  const draft = state.caregiver;
  const body = caregiverBody(event.target);
  return run(async () => {
    await api.request("PATCH", `/api/v1/caregivers/${draft.id}`, body);
    if (state.caregiver === draft) state.caregiver = null; // not a record opened since
  }, "services.saved");
}

// A CSV or XLSX file, as it is, to the import; the report lists every failed row.
async function importFile(event) {
  event.preventDefault();
  const form = event.target;
  const file = form.file.files[0];
  if (!file) return;
  const dry = form.dry_run.checked;
  const response = await fetch(`/api/v1/${form.dataset.kind}/import?dry_run=${dry}`, {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream" },
    body: file,
  });
  const report = await response.json();
  if (!response.ok) {
    state.message = t("action.failed", { why: report.detail ?? response.statusText });
  } else {
    state.message = t(dry ? "admin.import_dry" : "admin.import_done", report);
    fill(form.querySelector(".report"), report.rows.filter((r) => r.outcome === "failed").map((r) =>
      h("li", { "data-line": r.line }, t("admin.import_row", { line: r.line, id: r.external_id, error: r.error }))));
  }
  await load();
}

async function editElder(elder) {
  // The full record is read (and the read logged) only when it is opened.
  state.editing = elder
    ? await api.request("GET", `/api/v1/elders/${elder.id}`, undefined, { "X-CareBell-Screen": "admin.elder" })
    : { contacts: [], hardship: [] };
  render();
  $("#elder-form [name=name]").focus();
}

function elderBody(form) {
  const top = {};
  const fields = {};
  for (const [name, type] of ELDER_FIELDS) {
    const input = form.querySelector(`[name=${name}]`);
    let value;
    if (type === "checkbox") value = input.checked;
    else if (type === "number") value = input.value === "" ? null : Number(input.value);
    else value = input.value.trim();
    if (value === "" && ["external_id", "birth_date", "sex", "living_situation"].includes(name)) value = null;
    (TOP.has(name) ? top : fields)[name] = value;
  }
  fields.hardship = [...form.querySelectorAll("[name=hardship]:checked")].map((b) => b.value);
  fields.phones = [];
  const contacts = [];
  for (const row of form.querySelectorAll(".contact")) {
    const get = (n) => row.querySelector(`[name=${n}]`);
    if (!get("c_name").value.trim()) continue;
    contacts.push({
      name: get("c_name").value.trim(),
      relation: get("c_relation").value.trim(),
      phones: get("c_phone").value.split(/[,，\s]+/).filter(Boolean),
      hours: get("c_hours").value.trim(),
      key_holder: get("c_key").checked,
    });
  }
  return { top, fields, contacts };
}

function saveElder(event) {
  event.preventDefault();
  const { top, fields, contacts } = elderBody(event.target);
  const editing = state.editing;
  return run(async () => {
    if (editing.id) {
      await api.request("PATCH", `/api/v1/elders/${editing.id}`, { ...top, fields, contacts });
    } else {
      const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null));
      await api.post("/api/v1/elders", { ...top, ...clean, contacts });
    }
    if (state.editing === editing) state.editing = null; // not a record opened since
  }, "services.saved");
}

// A device given to the elder: registered and bound (or, already registered, bound
// to them). Its broker log-in is issued on the device API (docs/devices.md).
function bindDevice() {
  const editing = state.editing;
  const form = $("#elder-form");
  const id = form.device_id.value.trim();
  if (!editing?.id || !id || !form.device_id.checkValidity()) return;
  const kind = form.device_kind.value;
  return run(async () => {
    try {
      await api.post("/api/v1/devices", { id, kind, elder_id: editing.id });
    } catch (error) {
      if (error.status !== 409) throw error;
      await api.request("PUT", `/api/v1/devices/${encodeURIComponent(id)}/elder`, { elder_id: editing.id });
    }
    form.device_id.value = "";
    if (state.editing === editing) {
      editing.devices = [...editing.devices.filter((d) => d.id !== id), { id, kind, active: true }];
      renderDevices(editing);
    }
    return t("admin.device_bound", { device: id, name: editing.name });
  });
}

function renderDevices(e) {
  $("#elder-devices").hidden = !e.id;
  fill($("#elder-device-list"), (e.devices ?? []).map((d) =>
    h("li", { "data-device": d.id }, `${d.id} · ${t(`admin.device.${d.kind}`)}`)));
}

// The capability assessment: every item of the configured scale, then the grade.
function assess() {
  const editing = state.editing;
  const form = $("#elder-form");
  const scores = {};
  for (const input of form.querySelectorAll("[name^=score_]")) {
    scores[input.name.slice(6)] = input.value === "" ? -1 : Number(input.value);
  }
  const body = {
    assessed_on: form.assessed_on.value,
    assessor: form.assessor.value.trim(),
    scores,
  };
  return run(async () => {
    const done = await api.post(`/api/v1/elders/${editing.id}/assessments`, body);
    const grade = state.scale.grades.find((g) => g.code === done.grade);
    if (state.editing === editing) state.editing = null;
    return t("admin.assessed", { total: done.total, grade: label(grade), level: done.care_level, due: done.next_due });
  });
}

const label = (x) => (document.documentElement.lang === "en" ? x.label_en : x.label_zh);

function renderAssessment(e) {
  $("#assessment").hidden = !e.id || !state.scale;
  if (!e.id || !state.scale) return;
  const scale = state.scale;
  $("#assessment-scale").textContent = t(scale.verified ? "admin.scale" : "admin.scale_unverified", { standard: scale.standard });
  fill($("#assessment-items"), scale.indicators.flatMap((ind) => ind.items.map((item) =>
    h("label", {}, h("span", {}, `${label(ind)} · ${label(item)} (0–${item.max_score})`),
      h("input", { name: `score_${item.code}`, type: "number", min: 0, max: item.max_score })))));
  $("#elder-form").assessed_on.value = new Date().toISOString().slice(0, 10);
}

function deactivateElder() {
  const editing = state.editing;
  if (!editing?.id) return;
  const reason = $("#deactivate-reason").value;
  return run(async () => {
    await api.request("PATCH", `/api/v1/elders/${editing.id}`, { active: false, deactivation_reason: reason });
    state.editing = null;
  }, "services.saved");
}

const areaName = (key) => (key === "*" ? t("admin.city_wide") : key);
const depth = (key) => (key === "*" ? 0 : key.split("/").length);

function userRow(user) {
  return h("tr", { "data-user": user.username },
    h("td", {}, user.username, user.display_name !== user.username ? ` · ${user.display_name}` : ""),
    h("td", {}, t(`role.${user.role}`)),
    h("td", {}, user.areas.map(areaName).join("、")),
    h("td", {}, user.active ? (user.must_change_password ? t("admin.must_change") : t("admin.active")) : t("admin.disabled")),
    h("td", { class: "actions" },
      h("button", { type: "button", onclick: () => patchUser(user, { active: !user.active }) },
        t(user.active ? "admin.disable" : "admin.enable")),
      h("button", { type: "button", onclick: () => patchUser(user, { reset_password: true }) }, t("admin.reset"))));
}

function elderInput([name, type, opts]) {
  const value = state.editing?.[name];
  let input;
  if (type === "select") {
    input = h("select", { name }, opts.choices.map((c) => h("option", { value: c }, c ? t(`admin.v.${c}`) : "–")));
    input.value = value ?? "";
  } else if (type === "textarea") {
    input = h("textarea", { name, rows: 2, maxlength: opts.maxlength });
    input.value = value ?? "";
  } else if (type === "checkbox") {
    input = h("input", { name, type, checked: Boolean(value) });
  } else {
    const { required, ...rest } = opts;
    input = h("input", { name, type, required: required || false, ...rest });
    input.value = value ?? "";
  }
  return h("label", { class: type === "textarea" ? "span2" : null }, h("span", {}, t(`admin.f.${name}`)), input);
}

function contactRow(contact) {
  const c = contact ?? {};
  return h("div", { class: "contact row wrap" },
    h("input", { name: "c_name", value: c.name ?? "", placeholder: t("admin.f.name"), "aria-label": t("admin.f.name") }),
    h("input", { name: "c_relation", value: c.relation ?? "", placeholder: t("admin.f.relation"), "aria-label": t("admin.f.relation") }),
    h("input", { name: "c_phone", value: (c.phones ?? []).join(", "), placeholder: t("admin.f.phone"), "aria-label": t("admin.f.phone") }),
    h("input", { name: "c_hours", value: c.hours ?? "", placeholder: "08:00-22:00", "aria-label": t("admin.f.hours") }),
    h("label", {}, h("input", { type: "checkbox", name: "c_key", checked: Boolean(c.key_holder) }), t("admin.f.key_holder")));
}

// The record and language the elder form was built for: a render for anything else
// (a list reloaded after a save) must not rebuild it and wipe what is being typed.
let formBuiltFor = { record: null, lang: "" };

function renderElderForm() {
  const form = $("#elder-form");
  form.hidden = !state.editing;
  if (!state.editing) {
    // A closed form keeps no inputs of the record it showed (nor their typed values).
    for (const part of ["#elder-fields", "#elder-hardship", "#elder-contacts", "#assessment-items", "#elder-device-list"]) fill($(part));
    formBuiltFor = { record: null, lang: "" };
    return;
  }
  const e = state.editing;
  const lang = document.documentElement.lang;
  if (formBuiltFor.record === e && formBuiltFor.lang === lang) return;
  formBuiltFor = { record: e, lang };
  $("#elder-form-title").textContent = e.id ? t("admin.edit_elder", { name: e.name }) : t("admin.new_elder");
  fill($("#elder-fields"), ELDER_FIELDS.map(elderInput));
  fill($("#elder-hardship"), HARDSHIP.map((code) =>
    h("label", {}, h("input", { type: "checkbox", name: "hardship", value: code, checked: e.hardship.includes(code) }), t(`admin.v.${code}`))));
  const rows = [...e.contacts];
  while (rows.length < CONTACT_ROWS) rows.push(null);
  fill($("#elder-contacts"), rows.map(contactRow));
  renderDevices(e);
  renderAssessment(e);
  $("#elder-deactivate").hidden = !e.id || !e.active;
  $("#deactivate-reason").hidden = !e.id || !e.active;
}

function render() {
  apply(document);
  $("#message").textContent = state.message;
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.classList.toggle("on", button.dataset.tab === state.tab);
    $(`#tab-${button.dataset.tab}`).hidden = button.dataset.tab !== state.tab;
  }
  fill($("#users"), state.users.map(userRow));
  const areaOptions = state.areas.map((a) => h("option", { value: a.key }, `${"\u3000".repeat(depth(a.key))}${a.name}`));
  const chosen = [...$("#user-areas").selectedOptions].map((o) => o.value);
  fill($("#user-areas"), areaOptions.map((o) => o.cloneNode(true)));
  for (const option of $("#user-areas").options) option.selected = chosen.includes(option.value);
  const parent = $("#area-parent").value;
  fill($("#area-parent"), h("option", { value: "" }, t("admin.no_parent")),
    state.areas.filter((a) => a.level !== "community").map((a) => h("option", { value: a.key }, `${"\u3000".repeat(depth(a.key))}${a.name}`)));
  $("#area-parent").value = parent;
  fill($("#areas"), state.areas.map((a) =>
    h("li", { style: `margin-left: ${depth(a.key) * 1.2}em`, "data-area": a.key }, a.name, " ", h("small", { class: "muted" }, t(`admin.level.${a.level}`)))));
  $("#areas-none").hidden = state.areas.length > 0;
  const cg = $("#user-caregiver").value;
  fill($("#user-caregiver"), h("option", { value: "" }, "–"), state.caregivers.map((c) => h("option", { value: c.id }, c.name)));
  $("#user-caregiver").value = cg;
  fill($("#elders"), state.elders.map((e) =>
    h("tr", { "data-elder": e.id },
      h("td", {}, e.name),
      h("td", {}, [e.district, e.street, e.community].filter(Boolean).join(" / ")),
      h("td", {}, e.id_number),
      h("td", {}, e.active ? t("admin.active") : t("admin.inactive")),
      h("td", {}, h("button", { type: "button", onclick: () => editElder(e) }, t("admin.edit"))))));
  renderElderForm();
  renderWorkforce();
}

const hm = (clock) => clock.slice(0, 5);
const providerName = (id) => state.providers.find((p) => p.id === id)?.name ?? "";

// The hours a caregiver works: the weekly pattern's days, or the daily shift.
function shiftText(c) {
  const days = Object.entries(c.weekly_shifts).sort(([a], [b]) => a.localeCompare(b));
  if (!days.length) return t("admin.daily_shift", { start: hm(c.shift_start), end: hm(c.shift_end) });
  return days.map(([d, [start, end]]) => `${t(`admin.weekday.${d}`)} ${hm(start)}–${hm(end)}`).join("、");
}

// A select's options rebuilt from the records, keeping what was chosen.
function choices(select, rows, none = "–") {
  const chosen = select.value;
  fill(select, h("option", { value: "" }, none), rows.map((r) => h("option", { value: r.id }, r.name)));
  select.value = rows.some((r) => r.id === chosen) ? chosen : "";
}

function renderWorkforce() {
  fill($("#providers"), state.providers.map((p) =>
    h("tr", { "data-provider": p.id }, h("td", {}, p.name), h("td", {}, p.phone), h("td", {}, p.address))));
  $("#providers-none").hidden = state.providers.length > 0;
  fill($("#facilities"), state.facilities.map((f) =>
    h("tr", { "data-facility": f.id }, h("td", {}, f.name), h("td", {}, t(`admin.kind.${f.kind}`)),
      h("td", {}, providerName(f.provider_id)), h("td", {}, f.area ? areaName(f.area) : ""), h("td", {}, f.opening_hours))));
  $("#facilities-none").hidden = state.facilities.length > 0;
  for (const select of document.querySelectorAll("#new-facility .provider-choice, #new-user .provider-choice")) {
    choices(select, state.providers);
  }
  const area = $("#facility-area").value;
  fill($("#facility-area"), h("option", { value: "" }, "–"),
    state.areas.filter((a) => a.key !== "*").map((a) => h("option", { value: a.key }, `${"\u3000".repeat(depth(a.key) - 1)}${a.name}`)));
  $("#facility-area").value = area;
  fill($("#caregivers"), state.caregivers.map((c) =>
    h("tr", { "data-caregiver": c.id },
      h("td", {}, c.name),
      h("td", {}, providerName(c.provider_id) || c.provider),
      h("td", {}, c.skills.join(", ")),
      h("td", {}, shiftText(c)),
      h("td", {}, c.leave_days.join("、")),
      h("td", {}, c.active ? t("admin.active") : t("admin.inactive")),
      h("td", {}, h("button", { type: "button", onclick: () => editCaregiver(c) }, t("admin.edit"))))));
  renderCaregiverForm();
}

function weekRow(day, hours) {
  return h("div", { class: "row wrap day", "data-weekday": day },
    h("label", { class: "row" }, h("input", { type: "checkbox", name: "works", checked: Boolean(hours) }), t(`admin.weekday.${day}`)),
    h("input", { type: "time", name: "day_start", value: hm(hours?.[0] ?? "08:00"), "aria-label": t("admin.weekday.start") }),
    h("span", { class: "to" }),
    h("input", { type: "time", name: "day_end", value: hm(hours?.[1] ?? "17:00"), "aria-label": t("admin.weekday.end") }));
}

function certificateRow(c) {
  const cert = c ?? {};
  return h("div", { class: "certificate row wrap" },
    h("input", { name: "cert_skill", value: cert.skill ?? "", placeholder: t("admin.cert.skill"), "aria-label": t("admin.cert.skill") }),
    h("input", { name: "cert_name", value: cert.name ?? "", placeholder: t("admin.cert.name"), "aria-label": t("admin.cert.name") }),
    h("label", {}, t("admin.cert.expires"), h("input", { type: "date", name: "cert_expires", value: cert.expires_on ?? "" })));
}

function renderLeave() {
  const draft = state.caregiver;
  fill($("#caregiver-leave"), (draft?.leave_days ?? []).map((day) =>
    h("li", { "data-leave": day }, day, " ",
      h("button", { type: "button", class: "link", onclick: () => removeLeave(day), "aria-label": t("admin.remove_leave", { day }) }, "×"))));
}

// Built once per record and language: a list reloaded meanwhile keeps what is typed.
let caregiverFormFor = { record: null, lang: "" };

function renderCaregiverForm() {
  const form = $("#caregiver-form");
  const c = state.caregiver;
  form.hidden = !c;
  if (!c) {
    fill($("#caregiver-week"));
    fill($("#caregiver-certificates"));
    fill($("#caregiver-leave"));
    caregiverFormFor = { record: null, lang: "" };
    return;
  }
  const lang = document.documentElement.lang;
  if (caregiverFormFor.record === c && caregiverFormFor.lang === lang) return;
  caregiverFormFor = { record: c, lang };
  $("#caregiver-form-title").textContent = t("admin.edit_caregiver", { name: c.name });
  choices(form.provider_id, state.providers);
  choices(form.station_id, state.facilities.filter((f) => f.kind === "station"));
  form.provider_id.value = c.provider_id ?? "";
  form.station_id.value = c.station_id ?? "";
  form.name.value = c.name;
  form.phone.value = c.phone;
  form.transport.value = c.transport;
  form.skills.value = c.skills.join(", ");
  form.active.checked = c.active;
  form.shift_start.value = hm(c.shift_start);
  form.shift_end.value = hm(c.shift_end);
  fill($("#caregiver-week"), WEEKDAYS.map((d) => weekRow(d, c.weekly_shifts[d])));
  const certs = [...c.certificates];
  while (certs.length < CERTIFICATE_ROWS) certs.push(null);
  fill($("#caregiver-certificates"), certs.map(certificateRow));
  renderLeave();
}

start();
