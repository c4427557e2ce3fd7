// MKASSA service worker. Served at /sw.js (scope /) by the pwa blueprint, which
// replaces the PRECACHE line below with [{url, revision}] built from content
// hashes, so every deploy that changes a shell file yields a new worker.
//
// What it does: keeps the app shell (CSS, htmx, app.js, icons, /offline) on
// the device and shows /offline when a page cannot be loaded. What it never
// does: store a page. Pages are per-user and hold money data; every navigation
// goes to the network, and only the anonymous /offline page comes from cache.
/* global workbox */

importScripts("/static/vendor/workbox-v7.4.1/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: "/static/vendor/workbox-v7.4.1/", debug: false });

const PRECACHE = /*PRECACHE*/[];

// workbox-sw loads a module on first use, and importScripts only works while
// the worker script is first evaluated: touch every module at top level.
const { core, precaching, routing, strategies, expiration, navigationPreload } = workbox;

// A new deploy takes over open tabs at once instead of waiting for all of
// them to close; precache revisions keep the swapped files consistent.
self.addEventListener("install", () => self.skipWaiting());
core.clientsClaim();

// Shell files are fetched without cookies: /offline must be rendered for an
// anonymous visitor so the cached copy carries no name, role or CSRF token.
// (A navigation Request cannot be re-created, and never needs to be here.)
precaching.addPlugins([
  {
    requestWillFetch: ({ request }) =>
      request.mode === "navigate" ? request : new Request(request, { credentials: "omit" }),
  },
]);
precaching.precacheAndRoute(PRECACHE);
precaching.cleanupOutdatedCaches();

// Pages: network only, never cached. Navigation preload starts the request
// while the worker boots (slow on cheap phones). With no network, show the
// precached /offline page instead. Only GET navigations match, so a form POST
// is never timed out or replayed.
navigationPreload.enable();
const toOffline = new precaching.PrecacheFallbackPlugin({ fallbackURL: "/offline" });
// The Bank's and admins' areas, the APIs and file downloads may be slow by
// nature (reports, exports): they get no timeout, or a slow answer would read
// as "offline".
routing.registerRoute(
  new routing.NavigationRoute(new strategies.NetworkOnly({ plugins: [toOffline] }), {
    allowlist: [/^\/(bank|sandbox|admin|api)([/?]|$)/, /\.(xlsx|csv|pdf)(\?|$)/],
  }),
);
// Merchant pages: no answer within 4 s counts as offline; /offline has a
// "Try again" link that reloads the page the user asked for.
routing.registerRoute(
  new routing.NavigationRoute(new strategies.NetworkOnly({ networkTimeoutSeconds: 4, plugins: [toOffline] })),
);

// Static files not in the precache: only the versioned vendor paths
// (/static/vendor/<name>-<version>/, e.g. Leaflet and its images), since the
// pwa view precaches every file of our own. Cache first is safe because a
// new version gets a new URL; the cap drops files of superseded versions.
routing.registerRoute(
  ({ sameOrigin, url }) => sameOrigin && url.pathname.startsWith("/static/"),
  new strategies.CacheFirst({
    cacheName: "mkassa-static",
    plugins: [new expiration.ExpirationPlugin({ maxEntries: 60, purgeOnQuotaError: true })],
  }),
);
// Everything else (form POSTs, htmx requests, API calls, text/event-stream
// live updates) matches no route: the browser sends it as if there were no
// worker, and nothing of it is stored.

// Web push: payload {title, body, url}. Every push must show a notification,
// so a malformed payload still shows one.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data?.json() ?? {};
  } catch {
    data = { body: event.data.text() };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "MKASSA", {
      body: data.body,
      icon: "/static/icons/icon-192.png",
      data: { url: data.url },
    }),
  );
});

// Open the notification's page, reusing a tab already showing it. Only our own
// origin: a payload can never send the user to another site.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  let url = new URL(event.notification.data?.url || "/", self.location.origin);
  if (url.origin !== self.location.origin) url = new URL("/", self.location.origin);
  event.waitUntil(
    (async () => {
      const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = tabs.find((tab) => tab.url === url.href);
      return open ? open.focus() : self.clients.openWindow(url.href);
    })(),
  );
});
