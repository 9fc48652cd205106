// What the report page's sections share: the session, the centre's time zone,
// dates as the API wants them, files fetched in the session and saved.

import { Api } from "../shared/api.js";
import { fill, h } from "../shared/dom.js";
import { currentLocale, t } from "../shared/i18n.js";

export const api = new Api("carebell.board.session"); // the board's session: one log-in for all pages
export const centre = { timezone: undefined };

// Midnight of a date in the centre's time zone, with its offset, as the API wants.
export function midnight(date) {
  const probe = new Date(`${date}T12:00:00Z`);
  const name = new Intl.DateTimeFormat("en", { timeZone: centre.timezone, timeZoneName: "longOffset" })
    .formatToParts(probe)
    .find((p) => p.type === "timeZoneName").value; // "GMT+08:00" (or "GMT" for UTC)
  const offset = name === "GMT" ? "+00:00" : name.slice(3);
  return `${date}T00:00:00${offset}`;
}

export function nextDay(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

export const when = (iso) =>
  iso
    ? new Intl.DateTimeFormat(currentLocale(), { dateStyle: "short", timeStyle: "short", timeZone: centre.timezone })
        .format(new Date(iso))
    : "–";

export const clock = (iso) =>
  iso
    ? new Intl.DateTimeFormat(currentLocale(), { hour: "2-digit", minute: "2-digit", timeZone: centre.timezone })
        .format(new Date(iso))
    : "–";

// A select's options, keeping what was chosen across a language switch.
export function options(select, values, label) {
  const chosen = select.value;
  fill(select, h("option", { value: "" }, t("reports.any")), values.map((v) => h("option", { value: v }, label(v))));
  select.value = chosen;
}

// A file the API makes (CSV, XLSX, PDF), fetched in the session (its cookie) and
// saved; the error's text, or null when saved.
export async function download(path, fallbackName) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    return typeof body.detail === "string" ? body.detail : response.statusText;
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const quoted = /filename="([^"]+)"/.exec(disposition)?.[1];
  const encoded = /filename\*=UTF-8''([^;]+)/.exec(disposition)?.[1];
  const name = quoted || (encoded && decodeURIComponent(encoded)) || fallbackName;
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  return null;
}
