// The city map with no tile server: districts drawn from where their elders live,
// alerts by severity, caregivers by state. Leaflet is vendored (static/vendor).

/* global L */
const SEVERITY_COLOUR = { critical: "#ff4d4f", high: "#ff9f1a", medium: "#ffd43b", low: "#74c0fc" };
const CAREGIVER_STATES = new Set(["free", "en_route", "on_scene", "off_shift", "offered"]);

// Leaflet puts a string into the page as HTML; names come from the registry and
// must never run as markup, so every label goes in as a text node.
function textOf(label) {
  const span = document.createElement("span");
  span.textContent = label;
  return span;
}

function markerOf(className, state) {
  const element = document.createElement("div");
  element.className = className;
  if (state) element.dataset.state = state;
  return element;
}

function offlineMarker() {
  const element = markerOf("offline-marker");
  element.textContent = "✕";
  return element;
}

export class CityMap {
  constructor(element) {
    this.map = L.map(element, { attributionControl: false, zoomSnap: 0.25 });
    this.alerts = new Map();
    this.caregivers = new Map();
    this.map.setView([30.2741, 120.1551], 13);
  }

  areas(areas) {
    const bounds = [];
    for (const a of areas) {
      const box = [
        [a.south, a.west],
        [a.north, a.east],
      ];
      bounds.push(...box);
      L.rectangle(box, { color: "#34404f", weight: 1, fillColor: "#1a212b", fillOpacity: 0.6 })
        .addTo(this.map);
      // The name sits on the district's northern edge, never over an alert.
      L.tooltip({ permanent: true, direction: "top", className: "area-label" })
        .setLatLng([a.north, (a.west + a.east) / 2])
        .setContent(textOf(a.district))
        .addTo(this.map);
    }
    // A city fits the screen; a single street is not blown up past street level.
    if (bounds.length) this.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 14 });
  }

  alert(alert, onClick) {
    let marker = this.alerts.get(alert.id);
    const style = {
      radius: alert.severity === "critical" ? 12 : 9,
      color: "#10141a",
      weight: 2,
      fillColor: SEVERITY_COLOUR[alert.severity] || "#ccc",
      fillOpacity: 0.95,
    };
    if (!marker) {
      marker = L.circleMarker([alert.lat, alert.lon], style).addTo(this.map);
      marker.on("click", () => onClick(alert.id));
      this.alerts.set(alert.id, marker);
    } else {
      marker.setStyle(style);
    }
  }

  removeAlert(id) {
    this.alerts.get(id)?.remove();
    this.alerts.delete(id);
  }

  caregiver(c, label) {
    const state = CAREGIVER_STATES.has(c.state) ? c.state : "free";
    const icon = L.divIcon({ className: "", html: markerOf("cg-marker", state), iconSize: [14, 14] });
    let marker = this.caregivers.get(c.id);
    if (!marker) {
      marker = L.marker([c.lat, c.lon], { icon }).addTo(this.map);
      this.caregivers.set(c.id, marker);
    } else {
      marker.setLatLng([c.lat, c.lon]);
      marker.setIcon(icon);
    }
    marker.bindTooltip(textOf(label));
  }

  // Devices offline: a grey cross, replaced wholesale at each refresh.
  offline(devices, label) {
    this.offlineLayer?.remove();
    this.offlineLayer = L.layerGroup(
      devices.map((d) =>
        L.marker([d.lat, d.lon], {
          icon: L.divIcon({ className: "", html: offlineMarker(), iconSize: [14, 14] }),
        }).bindTooltip(textOf(label(d))),
      ),
    ).addTo(this.map);
  }

  focus(lat, lon) {
    this.map.panTo([lat, lon]);
  }
}
