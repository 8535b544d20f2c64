// The phone app's service worker: Workbox keeps the shell (precached, by revision) and the user's data
// (network first, the last copy when there is no network). Rendered by api/phone.py.
importScripts("/app/lib/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: "/app/lib/", debug: false });

const { precacheAndRoute, cleanupOutdatedCaches, createHandlerBoundToURL } = workbox.precaching;
const { registerRoute, NavigationRoute } = workbox.routing;
const { NetworkFirst } = workbox.strategies;

workbox.core.setCacheNameDetails({ prefix: "gridgov" });
workbox.core.skipWaiting();
workbox.core.clientsClaim();

precacheAndRoute({{ precache }});
cleanupOutdatedCaches();
registerRoute(new NavigationRoute(createHandlerBoundToURL("/app/"), { allowlist: [/^\/app\/$/] }));

// What the app reads to work offline: categories, the user's grid, cases, own reports, today's log, visits due.
const DATA = [/^\/v1\/categories$/, /^\/v1\/me(\/grid|\/cases|\/reports)?$/, /^\/v1\/worklogs\//, /^\/v1\/visits\/due$/];
registerRoute(
  ({ url, request }) =>
    request.method === "GET" && url.origin === self.location.origin && DATA.some((r) => r.test(url.pathname)),
  new NetworkFirst({ cacheName: "gridgov-data", networkTimeoutSeconds: 6 }),
);
