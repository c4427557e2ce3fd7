// Quick lock on a quick-access device (#11), as banking apps do: reopened after longer in the
// background than the shop's quick-lock time, the app asks for the PIN again.
// The server decides (services/auth.load_session): it locks when the gap since the page last said
// "on screen" is too long. This file only says so: every few seconds while visible, and once more
// when the app goes to the background. A page that cannot say it (no JavaScript) locks the same way.
(() => {
  "use strict";
  const meta = document.querySelector('meta[name="quick-lock"]');
  if (!meta) return;
  const url = meta.content;
  const every = Number(meta.dataset.every) * 1000;
  const lockAfter = Number(meta.dataset.lockAfter) * 1000;
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  let timer = null;
  let hiddenAt = null;

  async function report() {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), "HX-Request": "true", "HX-Current-URL": location.href },
      });
    } catch {
      return; // offline: the next request is judged by the server anyway
    }
    if (response.ok) {
      document.documentElement.classList.remove("quick-locked");
    } else if (response.status === 401) {
      // Locked: the server names the lock (or sign-in) screen, coming back to this page.
      const target = response.headers.get("HX-Redirect");
      const next = target ? new URL(target, location.href) : null;
      location.assign(next && next.origin === location.origin ? next.href : location.href);
    }
  }
  function start() {
    if (timer === null) timer = setInterval(report, every);
  }
  function stop() {
    clearInterval(timer);
    timer = null;
  }
  function leaving() {
    if (hiddenAt !== null) return;
    hiddenAt = Date.now();
    stop();
    const form = new FormData();
    form.append("csrf_token", csrf());
    navigator.sendBeacon(url, form); // the last moment on screen
  }
  function back() {
    if (hiddenAt === null) return;
    // Too late: hide what was on screen until the lock screen replaces it.
    if (Date.now() - hiddenAt > lockAfter) document.documentElement.classList.add("quick-locked");
    hiddenAt = null;
    report();
    start();
  }
  document.addEventListener("visibilitychange", () => (document.hidden ? leaving() : back()));
  window.addEventListener("pagehide", leaving);
  window.addEventListener("pageshow", (evt) => { if (evt.persisted) back(); });
  if (!document.hidden) start();
})();
