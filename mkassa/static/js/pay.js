// Accept payment: keypad, countdown, and the polling fallback for the live status.
// The pages work without it (the form posts; a pending QR page refreshes itself).
(() => {
  "use strict";

  // Keypad: big buttons that type into the amount field (the phone keyboard works too).
  document.addEventListener("click", (evt) => {
    const key = evt.target.closest("[data-keypad] [data-key]");
    if (!key) return;
    const input = key.closest("form").querySelector("input[name=amount]");
    const typed = key.dataset.key;
    if (typed === "clear") input.value = "";
    else if (typed === "back") input.value = input.value.slice(0, -1);
    else input.value += typed;
    input.focus();
  });

  // Countdown to the QR's expiry; the server decides when it expires and pushes the new state.
  function tick() {
    for (const el of document.querySelectorAll("[data-countdown]")) {
      const left = Math.max(0, Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000));
      el.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : el.dataset.expiredText;
    }
  }
  setInterval(tick, 1000);

  // Live updates arrive over SSE. When the stream fails (a proxy that buffers, a network that
  // drops long requests), fall back to polling: one "poll" starts it, and each polled answer
  // keeps polling every 2 s while the payment is pending.
  function startPolling() {
    const poller = document.querySelector("#payment-view [data-poll]");
    if (poller && window.htmx) htmx.trigger(poller, "poll");
  }
  document.addEventListener("htmx:sse:error", startPolling);
  document.addEventListener("htmx:sse:close", (evt) => {
    if (evt.detail?.reason !== "message") startPolling();
  });
  // The stream's first request can fail before it is a stream at all: the web process died before
  // answering (a network error), or the balancer answered for it (502/503). The SSE extension never
  // sees these, htmx core does; poll instead, and never swap the balancer's error page over the QR.
  const isStream = (el) => el instanceof Element && el.matches("[data-live-url]");
  document.addEventListener("htmx:error", (evt) => {
    if (isStream(evt.target)) startPolling();
  });
  document.addEventListener("htmx:response:error", (evt) => {
    const ctx = evt.detail?.ctx;
    if (!isStream(evt.target) || !ctx || ctx.response?.status === 401) return;  // 401: live.js signs in again
    ctx.swap = "none";
    startPolling();
  });

  function ready() {
    tick();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
