// Message catalogues (static/i18n/*.json) and locale-aware formatting.
// Every visible text comes from a catalogue: elements carry data-i18n keys.

export const LOCALES = ["zh-CN", "en"];
const STORE = "carebell.locale";
let catalog = {};
let locale = "zh-CN";

export function preferredLocale() {
  const saved = localStorage.getItem(STORE);
  if (LOCALES.includes(saved)) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export async function useLocale(wanted) {
  locale = LOCALES.includes(wanted) ? wanted : "zh-CN";
  const response = await fetch(`/static/i18n/${locale}.json`);
  catalog = await response.json();
  localStorage.setItem(STORE, locale);
  document.documentElement.lang = locale;
  apply(document);
  return locale;
}

export const currentLocale = () => locale;
export const otherLocale = () => (locale === "zh-CN" ? "en" : "zh-CN");

export function t(key, vars = {}) {
  const text = catalog[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function apply(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export const fmt = {
  time: (iso) =>
    iso
      ? new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
          .format(new Date(iso))
      : "–",
  number: (n, digits = 0) =>
    n == null
      ? "–"
      : new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n),
  percent: (x) =>
    x == null
      ? "–"
      : new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(x),
  // Clock times people plan to the minute (planned visits): no seconds.
  hm: (iso) =>
    iso
      ? new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso))
      : "–",
  minutes: (s) => t("unit.min", { n: fmt.number(Math.max(1, Math.round(s / 60))) }),
  // A span of time, written as one ("13 min 40 s"), never like a clock time ("13:40").
  duration(s) {
    const whole = Math.max(0, Math.round(Math.abs(s)));
    const m = Math.floor(whole / 60);
    const rest = whole % 60;
    if (m === 0) return t("unit.s", { n: fmt.number(rest) });
    const minutes = t("unit.min", { n: fmt.number(m) });
    return rest ? `${minutes} ${t("unit.s", { n: fmt.number(rest) })}` : minutes;
  },
  seconds: (s) => (s == null ? "–" : t("unit.s", { n: fmt.number(s, 0) })),
  // m:ss for a call's running timer; the sign is shown by the text around it.
  clock(s) {
    const whole = Math.max(0, Math.round(Math.abs(s)));
    const m = Math.floor(whole / 60);
    return `${fmt.number(m)}:${String(whole % 60).padStart(2, "0")}`;
  },
  distance: (m) =>
    m >= 1000 ? t("unit.km", { n: fmt.number(m / 1000, 1) }) : t("unit.m", { n: fmt.number(m) }),
};
