// Keeps the family page's shell on the phone so it opens without a connection;
// the alerts always come from the network (REST and the WebSocket), never from here.
const SHELL = "carebell-family-v1";
const FILES = [
  "/family/",
  "/family/family.js",
  "/family/family.css",
  "/family/icon.svg",
  "/family/manifest.webmanifest",
  "/static/shared/base.css",
  "/static/shared/api.js",
  "/static/shared/dom.js",
  "/static/shared/i18n.js",
  "/static/shared/live.js",
  "/static/shared/page.js",
  "/static/i18n/zh-CN.json",
  "/static/i18n/en.json",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.pathname.startsWith("/api/")) return;
  // Network first, so a new version is picked up at once; the cache when offline.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        caches.open(SHELL).then((cache) => cache.put(event.request, copy));
        return response;
      })
      .catch(() => caches.match(event.request)),
  );
});
