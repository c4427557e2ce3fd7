// Accept payment: keypad and countdown. The live status and its polling fallback are live.js's.
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

  function ready() {
    tick();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
