// Live updates over SSE (htmx 4's hx-sse extension, loaded just before this file).
// Elements carry `data-live-url`; this file turns it into `hx-sse:connect` once htmx has started.
// Why not write hx-sse:connect in the HTML: htmx starts from a timer queued when its deferred
// script runs, and that timer may fire before the extension's own deferred script has run; the
// page would then never connect. This file's timer is queued after htmx's, so it runs after it.
(() => {
  "use strict";
  function connect() {
    for (const el of document.querySelectorAll("[data-live-url]")) {
      if (el.hasAttribute("hx-sse:connect")) continue;
      el.setAttribute("hx-sse:connect", el.dataset.liveUrl);
      htmx.process(el);
    }
  }

  // When a stream fails (a proxy that buffers, a network that drops long requests), its screen
  // falls back to polling: the element's `[data-poll]` child, triggered once, keeps polling every
  // 2 s while its answer says so. These listeners exist before the stream is opened below: a stream
  // refused at once (the web process gone, the balancer's 502) failed before a later script's
  // listeners were there, and the QR screen never polled (CI, #19).
  const isStream = (el) => el instanceof Element && el.matches("[data-live-url]");
  function poll(stream) {
    const poller = stream.querySelector("[data-poll]");
    if (poller) htmx.trigger(poller, "poll");
  }
  document.addEventListener("htmx:sse:error", (evt) => {
    if (isStream(evt.target) && evt.detail?.status !== 401) poll(evt.target);
  });
  document.addEventListener("htmx:sse:close", (evt) => {
    if (isStream(evt.target) && evt.detail?.reason !== "message") poll(evt.target);
  });
  // The stream's first request can fail before it is a stream at all: a network error, or the
  // balancer answering for a dead process. The SSE extension never sees these, htmx core does:
  // poll instead, and never swap the balancer's error page over the screen.
  document.addEventListener("htmx:error", (evt) => {
    if (isStream(evt.target)) poll(evt.target);
  });
  document.addEventListener("htmx:response:error", (evt) => {
    const ctx = evt.detail?.ctx;
    if (!isStream(evt.target) || !ctx || ctx.response?.status === 401) return;  // 401: handled below
    ctx.swap = "none";
    poll(evt.target);
  });
  setTimeout(connect);

  // A live screen whose session ended must not go stale silently (#11). The stream says so with
  // `session-ended` and where to go (the lock or sign-in screen, coming back here); a reconnect
  // refused with 401 means the same, and reloading the page lets the server send us there.
  let leaving = false;
  function leave(target) {
    if (leaving) return;
    leaving = true;
    const url = target ? new URL(target, location.href) : null;
    if (url && url.origin === location.origin) location.assign(url.href);
    else location.reload();
  }
  document.addEventListener("session-ended", (evt) => leave(evt.detail?.data));
  document.addEventListener("htmx:sse:error", (evt) => {
    if (evt.detail?.status === 401) leave(null);
  });

  // Home's history, newest first, a heading per day: a live row arrives at the top with its day's
  // heading (it used to land above today's heading, #11). File it under that day's heading when the
  // screen has one, else keep the new heading; an older day not loaded yet comes with its page.
  function file(history) {
    const heading = history.firstElementChild;
    const row = heading?.nextElementSibling;
    if (!heading?.matches(".history-day[data-day]") || !row?.matches(".payment-row")) return;
    const day = heading.dataset.day;
    const later = [...history.children].slice(2).filter((li) => li.matches(".history-day[data-day]"));
    const same = later.find((h) => h.dataset.day === day);
    if (same) {
      heading.remove();
      same.after(row);
    } else if (later.some((h) => h.dataset.day > day)) {
      const older = later.find((h) => h.dataset.day < day);
      const more = history.querySelector(":scope > li.more");
      if (older) older.before(heading, row);
      else if (more) { heading.remove(); row.remove(); }
      else history.append(heading, row);
    }
  }
  function watch() {
    const history = document.getElementById("history");
    if (!history) return;
    new MutationObserver(() => file(history)).observe(history, { childList: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
