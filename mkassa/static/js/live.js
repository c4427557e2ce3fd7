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
  setTimeout(connect);
})();
