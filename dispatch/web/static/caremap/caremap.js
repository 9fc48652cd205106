// The care map for supervisors (docs/reports.md "The care map"): elders coloured by
// the 15-minute circle, their grade or their risk signals; facilities; caregivers
// on shift with the ground each reaches in 15 minutes, shaded; the share per
// district; and the what-if table per street and hour.

/* global L */
import { Api } from "../shared/api.js";
import { $, fill, h } from "../shared/dom.js";
import { fmt, t } from "../shared/i18n.js";
import { startPage } from "../shared/page.js";
import { wgs84ToGcj02 } from "./gcj02.js";

const api = new Api("carebell.board.session"); // the board's session: one log-in for all pages
const GRADE_COLOURS = ["#9aa5b1", "#8fd18f", "#f5d547", "#f59f3a", "#e8590c", "#b3261e"];
const RISK_ORDER = ["not_worn", "offline", "repeated_offline", "inactivity", "nobody_home", "no_contact_30d"];
const state = { data: null, areas: [], whatif: null, message: null, map: null, layers: [], fitted: false };

// Leaflet puts a string into the page as HTML; every label goes in as text.
function textOf(lines) {
  const box = document.createElement("div");
  for (const line of lines) box.append(h("div", {}, line));
  return box;
}

async function start() {
  for (const input of document.querySelectorAll(".panel input")) input.addEventListener("change", draw);
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
  if (!state.map) {
    state.map = L.map($("#map"), { zoomSnap: 0.25, attributionControl: true });
    state.map.attributionControl.setPrefix("");
    state.map.setView([30.2741, 120.1551], 12);
  }
  try {
    const [data, areas, whatif] = await Promise.all([
      api.get("/api/v1/reports/map"),
      api.get("/api/v1/map/areas"),
      api.get("/api/v1/reports/map/what-if?hours=8,10,12,14,16,18,20"),
    ]);
    Object.assign(state, { data, areas, whatif, message: null });
    baseMap(data.tiles);
  } catch (error) {
    state.message = ["action.failed", { why: error.message }];
  }
  render();
}

// Positions are WGS-84; a GCJ-02 tile set (AMap, Tencent) needs them shifted.
function at(lat, lon) {
  return state.data?.tiles?.crs === "gcj02" ? wgs84ToGcj02(lat, lon) : [lat, lon];
}

function baseMap(tiles) {
  if (state.tileLayer || !tiles?.url) return;
  state.tileLayer = L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: 19 }).addTo(state.map);
}

function render() {
  $("#message").textContent = state.message ? t(...state.message) : "";
  const data = state.data;
  $("#share").textContent = data ? fmt.percent(data.share) : "–";
  $("#summary").textContent = data
    ? t("caremap.summary", {
        elders: fmt.number(data.elders.length),
        within: fmt.number(data.elders.filter((e) => e.within).length),
        caregivers: fmt.number(data.caregivers.length),
        minutes: fmt.number(data.limit_s / 60),
      })
    : "";
  fill(
    $("#districts tbody"),
    (data?.districts || []).map((d) =>
      h("tr", { "data-low": d.share < 0.95 ? "yes" : null },
        h("td", {}, d.district || "–"),
        h("td", {}, fmt.number(d.elders)),
        h("td", {}, fmt.percent(d.share))),
    ),
  );
  renderWhatIf();
  draw();
}

function colourOf(elder, by) {
  if (by === "grade") return GRADE_COLOURS[Math.min(elder.care_level, GRADE_COLOURS.length - 1)];
  if (by === "risk") return elder.risks.length >= 2 ? "#b3261e" : elder.risks.length ? "#f59f3a" : "#9aa5b1";
  return elder.within ? "#2f9e44" : "#e03131";
}

function legend(by) {
  if (by === "grade") {
    return GRADE_COLOURS.map((c, level) => [c, t("caremap.care_level", { n: level })]);
  }
  if (by === "risk") {
    return [["#b3261e", t("caremap.risk_many")], ["#f59f3a", t("caremap.risk_one")], ["#9aa5b1", t("caremap.risk_none")]];
  }
  return [["#2f9e44", t("caremap.in_circle")], ["#e03131", t("caremap.out_of_circle")]];
}

function elderLabel(e) {
  const place = [e.district, e.street, e.community].filter(Boolean).join(" / ");
  const lines = [place || "–"];
  lines.push(`${t("caremap.grade")}: ${e.grade || t("caremap.care_level", { n: e.care_level })}`);
  const traits = [];
  if (e.alone) traits.push(t("caremap.alone"));
  traits.push(...e.hardship);
  if (traits.length) lines.push(traits.join(" · "));
  if (e.open_needs) lines.push(t("caremap.open_needs", { n: e.open_needs }));
  if (e.risks.length) lines.push(e.risks.map((r) => t(`caremap.risk.${r}`)).join(" · "));
  lines.push(
    e.reach_s == null
      ? t("caremap.nobody_reaches")
      : t("caremap.reach", { minutes: fmt.number(Math.max(1, Math.round(e.reach_s / 60))) }),
  );
  return textOf(lines);
}

function draw() {
  const map = state.map;
  const data = state.data;
  if (!map || !data) return;
  for (const layer of state.layers) layer.remove();
  state.layers = [];
  const form = (name) => $(`.panel input[name="${name}"]`);
  const by = document.querySelector('.panel input[name="colour"]:checked').value;
  const add = (layer) => {
    state.layers.push(layer.addTo(map));
    return layer;
  };
  const bounds = [];
  if (!state.data.tiles?.url) {
    // Offline: each district's extent from where its elders live.
    for (const a of state.areas) {
      const box = [at(a.south, a.west), at(a.north, a.east)];
      bounds.push(...box);
      add(L.rectangle(box, { color: "#5c6b7a", weight: 1, fillColor: "#e9eef3", fillOpacity: 0.5, interactive: false }));
      add(L.tooltip({ permanent: true, direction: "top", className: "area-label" })
        .setLatLng(at(a.north, (a.west + a.east) / 2))
        .setContent(textOf([a.district])));
    }
  }
  if (form("reach").checked) {
    for (const c of data.caregivers) {
      add(L.circle(at(c.lat, c.lon), { radius: c.reach_m, stroke: false, fillColor: "#2f9e44", fillOpacity: 0.08, interactive: false }));
    }
  }
  for (const e of data.elders) {
    if (form("only_alone").checked && !e.alone) continue;
    if (form("only_hardship").checked && !e.hardship.length) continue;
    bounds.push(at(e.lat, e.lon));
    const colour = colourOf(e, by);
    add(L.circleMarker(at(e.lat, e.lon), { radius: 5, color: "#1d2530", weight: 1, fillColor: colour, fillOpacity: 0.95 })
      .bindTooltip(elderLabel(e)));
  }
  if (form("facilities").checked) {
    for (const f of data.facilities) {
      const icon = L.divIcon({ className: "", html: h("div", { class: "facility-marker" }, "⌂"), iconSize: [18, 18] });
      add(L.marker(at(f.lat, f.lon), { icon }).bindTooltip(textOf([f.name, t(`caremap.facility.${f.kind}`)])));
    }
  }
  if (form("caregivers").checked) {
    for (const c of data.caregivers) {
      const icon = L.divIcon({ className: "", html: h("div", { class: "cg-dot", "data-position": c.position }), iconSize: [12, 12] });
      add(L.marker(at(c.lat, c.lon), { icon }).bindTooltip(textOf([c.name, t(`caremap.position.${c.position}`)])));
    }
  }
  fill($("#legend"), legend(by).map(([c, label]) => h("li", {}, h("span", { class: "swatch", "data-colour": c }), label)));
  for (const swatch of document.querySelectorAll("#legend .swatch")) swatch.style.background = swatch.dataset.colour;
  if (!state.fitted && bounds.length) {
    map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 });
    state.fitted = true;
  }
}

function renderWhatIf() {
  const table = state.whatif;
  if (!table) return;
  fill(
    $("#whatif thead"),
    h("tr", {},
      h("th", {}, t("caremap.district")),
      h("th", {}, t("caremap.street")),
      h("th", {}, t("caremap.elders")),
      table.hours.map((hour) => h("th", {}, `${String(hour).padStart(2, "0")}:00`))),
  );
  fill(
    $("#whatif tbody"),
    table.streets.map((s) =>
      h("tr", {},
        h("td", {}, s.district || "–"),
        h("td", {}, s.street || "–"),
        h("td", {}, fmt.number(s.elders)),
        s.hours.map((cell) =>
          h("td", { "data-short": cell.share != null && cell.share < table.target ? "yes" : null, title: t("caremap.cell_hint") },
            h("strong", {}, cell.needed == null ? "–" : fmt.number(cell.needed)),
            " ",
            h("span", { class: "muted" },
              t("caremap.cell", { reaching: fmt.number(cell.reaching), share: fmt.percent(cell.share) })),
            cell.more_needed ? h("span", { class: "more" }, ` +${fmt.number(cell.more_needed)}`) : null)),
      ),
    ),
  );
}

start();
