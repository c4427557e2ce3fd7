// MKASSA service worker. Served at /sw.js (scope /) by the pwa blueprint, which
// replaces the PRECACHE line below with [{url, revision}] built from content
// hashes, so every deploy that changes a shell file yields a new worker.
//
// What it does: keeps the app shell (CSS, htmx, app.js, icons, /offline,
// /queue) on the device and shows /offline when a page cannot be loaded; keeps
// the actions that can wait (forms marked data-queue, see static/js/queue.js)
// in a Workbox Background Sync queue while offline and sends them later. What
// it never does: store a page. Pages are per-user and hold money data; every
// navigation goes to the network, and only the anonymous /offline and /queue
// pages come from cache.
/* global workbox */

importScripts("/static/vendor/workbox-v7.4.1/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: "/static/vendor/workbox-v7.4.1/", debug: false });

const PRECACHE = /*PRECACHE*/[];

// workbox-sw loads a module on first use, and importScripts only works while
// the worker script is first evaluated: touch every module at top level.
const { core, precaching, routing, strategies, expiration, navigationPreload, backgroundSync } = workbox;

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
// The queue page: from the server while online (the user's language and menu),
// else the precached anonymous copy, which draws the queue from this worker.
// Registered before the precache route, which would otherwise always answer.
routing.registerRoute(
  new routing.NavigationRoute(
    new strategies.NetworkOnly({ networkTimeoutSeconds: 4,
                                 plugins: [new precaching.PrecacheFallbackPlugin({ fallbackURL: "/queue" })] }),
    { allowlist: [/^\/queue$/] },
  ),
);
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

// ---- The queue of actions that can wait (issue #16) -------------------------
// A page offline sends a queueable form here as a fetch() carrying the
// X-Mkassa-Queue header (static/js/queue.js), with the Idempotency-Key it made
// on the first tap: the server acts once however often the request is replayed.
// The request is stored in IndexedDB by Workbox's Queue (Background Sync in
// Chrome), and sent on `sync`, when a page says it is back online, and when a
// page starts (Safari and Firefox have no Background Sync).
//
// What is never queued (sign-in, PIN, codes, withdrawals, refunds...) never
// carries the header: the page refuses it offline and nothing reaches here.
const QUEUE_HEADER = "X-Mkassa-Queue";
// Workbox drops entries older than this without a word. 30 days is far past a
// session's life: an entry is replayed (and, if refused, shown) long before.
const QUEUE_RETENTION_MINUTES = 60 * 24 * 30;
const queue = new backgroundSync.Queue("mkassa-actions", {
  maxRetentionTime: QUEUE_RETENTION_MINUTES,
  onSync: () => replay(),
});

// Every change to the queue goes through this chain, one at a time: a replay
// started by `sync`, another by an `online` event and a Cancel never interleave,
// so no entry is sent twice by this worker or lost between shift and push.
let chain = Promise.resolve();
function serially(task) {
  const run = chain.then(task, task);
  chain = run.catch(() => {});
  return run;
}

// The entry being sent is out of Workbox's store while its fetch runs; it is
// still shown (and counted) until the server has answered.
let sending = null;

async function entries() {
  const all = await queue.getAll();
  if (sending) all.unshift({ ...sending, metadata: { ...sending.metadata, sending: true } });
  return all.map((e) => ({ ...e.metadata, timestamp: e.timestamp }));
}

async function broadcast(message) {
  // Every entry counts, refused ones too: they wait for the user.
  const count = (await queue.size()) + (sending ? 1 : 0);
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const tab of tabs) tab.postMessage({ source: "mkassa-queue", count, ...message });
}

// Takes every entry out and puts back those `keep` accepts, in order. Workbox's
// Queue has no delete by id; the queue stays small (a shop's few actions).
async function rebuild(keep) {
  const kept = [];
  let entry;
  while ((entry = await queue.shiftRequest())) if (keep(entry)) kept.push(entry);
  for (const e of kept) await queue.pushRequest(e);
}

// The server's words from a refused form: the messages it shows next to the
// fields (class field-error), else the error page's text. The worker has no
// DOMParser; our templates are regular enough for a pattern.
function refusalMessages(html) {
  const found = [...html.matchAll(/class="field-error"[^>]*>([^<]+)</g)].map((m) => m[1].trim());
  if (found.length) return [...new Set(found)];
  const main = /<main[^>]*>([\s\S]*?)<\/main>/.exec(html);
  const text = (main ? main[1] : "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
  return text ? [text.slice(0, 300)] : [];
}

// Where a replay lands when the session is gone: nothing was applied, so the
// action waits for the user to sign in again rather than count as refused.
// A request that hangs (a half-open connection) must not hold the queue forever.
const REPLAY_TIMEOUT_MS = 30_000;
const SIGN_IN_PATHS = /^\/(login|lock|pin)(\/|$)/;

// What became of one entry: "next" to go on with the queue, "stop" to keep it
// first and wait (offline, signed out, the server in trouble); and what to tell
// the pages, once the entry is no longer counted as being sent.
async function send(entry) {
  let response;
  try {
    response = await fetch(entry.request.clone(),
                           { credentials: "same-origin", signal: AbortSignal.timeout(REPLAY_TIMEOUT_MS) });
  } catch {
    // Offline, or no answer in time (the server may have applied it: the key makes
    // the next try act once).
    await queue.unshiftRequest(entry);
    return ["stop"];
  }
  const landed = new URL(response.url || entry.request.url);
  if (response.redirected && SIGN_IN_PATHS.test(landed.pathname)) {
    await queue.unshiftRequest(entry);
    return ["stop", { event: "signin", label: entry.metadata.label }];
  }
  if (response.status >= 500) {
    await queue.unshiftRequest(entry);  // try again later
    return ["stop"];
  }
  if (response.ok) {
    return ["next", { event: "sent", id: entry.metadata.id, label: entry.metadata.label }];
  }
  // A 4xx: refused (a validation error, the data changed meanwhile). Kept with
  // the server's message until the user fixes or discards it.
  const messages = refusalMessages(await response.text());
  entry.metadata.failed = { status: response.status, messages };
  await queue.pushRequest(entry);
  return ["next", { event: "failed", id: entry.metadata.id, label: entry.metadata.label, messages }];
}

function replay() {
  return serially(async () => {
    // Only refused entries (or none): nothing to send, and nothing is moved.
    if ((await queue.getAll()).every((e) => e.metadata.failed)) return;
    const total = await queue.size();
    for (let i = 0; i < total; i++) {
      const entry = await queue.shiftRequest();
      if (!entry) break;
      if (entry.metadata.failed) {
        await queue.pushRequest(entry);  // waits for the user: fix or discard
        continue;
      }
      sending = entry;
      let outcome, message;
      try {
        [outcome, message] = await send(entry);
      } finally {
        sending = null;
      }
      if (message) await broadcast(message);
      if (outcome === "stop") return;
    }
  });
}

// Queueable requests: stored first, then a replay is tried at once (the page
// may be offline only in its own eyes). The page gets 202 and the entry id.
routing.registerRoute(
  ({ request, sameOrigin }) => sameOrigin && request.headers.has(QUEUE_HEADER),
  async ({ request }) => {
    const id = request.headers.get("Idempotency-Key");
    const meta = (name) => decodeURIComponent(request.headers.get(`${QUEUE_HEADER}-${name}`) || "");
    const fields = [...new URLSearchParams(await request.clone().text())].filter(([name]) => name !== "csrf_token");
    await serially(() =>
      queue.pushRequest({
        request,
        metadata: { id, url: request.url, label: meta("Label"), page: meta("Page"), owner: meta("Owner"),
                    fields, at: Date.now() },
      }),
    );
    await broadcast({ event: "queued", id });
    replay();
    return new Response(JSON.stringify({ queued: true, id }), {
      status: 202,
      headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    });
  },
  "POST",
);

// What pages ask of the queue. Every answer goes back on the message's port.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.source !== "mkassa-queue") return;
  const port = event.ports[0];
  const answer = async (work) => {
    await work;
    const list = await entries();
    port?.postMessage({ entries: list, count: list.length });
  };
  let work;
  switch (data.type) {
    case "list":
      work = Promise.resolve();
      break;
    case "replay":
      work = replay();
      break;
    case "owner":
      // A different user signed in on this phone: what others left is dropped.
      work = serially(async () => {
        const mine = (e) => e.metadata.owner === data.owner;
        if (!(await queue.getAll()).every(mine)) await rebuild(mine);
      });
      break;
    case "clear":  // sign-out
      work = serially(() => rebuild(() => false));
      break;
    case "cancel":
      work = serially(() => rebuild((e) => e.metadata.id !== data.id));
      break;
    default:
      return;
  }
  event.waitUntil(answer(work).then(() => broadcast({ event: data.type })));
});

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
