// MKASSA progressive enhancement. Every page works without this file: forms
// post, links navigate. It only adds what JavaScript makes better. Load it
// with `defer` after htmx. No framework, no build step; wrapped so nothing
// leaks into the global scope.
(() => {
  "use strict";

  // Installability and the offline page. Registered after `load` so the
  // worker's own downloads never compete with the first paint on a slow link.
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => console.warn("sw:", err));
    });
  }

  // Offline banner. Looked up on each event because htmx may have replaced the
  // body (history restore) since the page loaded.
  function showConnectionState() {
    const banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = navigator.onLine;
  }
  window.addEventListener("online", showConnectionState);
  window.addEventListener("offline", showConnectionState);

  // Headers for htmx 4 requests. htmx 4 has no config key for default headers;
  // its documented hook is the `htmx:config:request` event, fired for every
  // request (triggered or htmx.ajax) after hx-headers were applied, with the
  // headers as a plain object in evt.detail.ctx.request.headers. Requests stay
  // same-origin (htmx.config.mode), so the token never leaves our host.
  const pendingKeys = new WeakMap(); // source element -> {fingerprint, key}

  function hasHeader(headers, name) {
    return Object.keys(headers).some((k) => k.toLowerCase() === name);
  }

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // randomUUID exists only in secure contexts; a phone testing the dev server
    // over plain http on the LAN still deserves a unique key.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  document.addEventListener("htmx:config:request", (evt) => {
    const { sourceElement, request } = evt.detail.ctx;
    if (request.method === "GET") return;

    // Flask-WTF's CSRFProtect reads X-CSRFToken; forms also carry the hidden
    // field, so this matters for hx-post/hx-delete on buttons and links.
    const token = document.querySelector('meta[name="csrf-token"]');
    if (token) request.headers["X-CSRFToken"] = token.content;

    // An element that sets its own key (hx-headers) keeps it.
    if (hasHeader(request.headers, "idempotency-key")) return;
    // A key lives until the server answers. Sending the very same request again
    // before that (a double tap queued behind the first, a retry after a timeout
    // or a dropped connection) reuses it, so the server replays its stored result
    // instead of taking a payment or payout twice. Any answer, even an error,
    // ends the key: a corrected form is a new operation.
    const fingerprint = `${request.method} ${request.action} ${new URLSearchParams(request.body)}`;
    let pending = pendingKeys.get(sourceElement);
    if (pending?.fingerprint !== fingerprint) {
      pending = { fingerprint, key: newKey() };
      pendingKeys.set(sourceElement, pending);
    }
    request.headers["Idempotency-Key"] = pending.key;
  });

  document.addEventListener("htmx:after:request", (evt) => {
    const { sourceElement, response } = evt.detail.ctx;
    if (response) pendingKeys.delete(sourceElement);
  });

  // A short buzz when confirmed success appears (`data-vibrate` on the success
  // screen), whether it came with the page or was swapped in by htmx. Remembered
  // per element so re-processing the same node never buzzes twice.
  const vibrated = new WeakSet();

  function vibrateForNew(root) {
    if (!navigator.vibrate || !root?.querySelectorAll) return;
    const found = [...root.querySelectorAll("[data-vibrate]")];
    if (root.matches("[data-vibrate]")) found.push(root);
    for (const el of found) {
      if (vibrated.has(el)) continue;
      vibrated.add(el);
      navigator.vibrate(200);
    }
  }
  document.addEventListener("htmx:after:process", (evt) => vibrateForNew(evt.target));

  function onReady() {
    showConnectionState();
    vibrateForNew(document.body);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
  else onReady();
})();
