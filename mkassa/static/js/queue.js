// The page's side of the offline queue (issue #16; the worker's side is in sw.js).
//
// Forms marked `data-queue="<what it does>"` can wait: offline, they are sent
// to the service worker with an Idempotency-Key made here on the first tap, and
// the worker keeps them until the connection is back (a replay, even twice,
// acts once on the server). Every other POST form (sign-in, PIN, codes,
// payments, withdrawals, refunds...) is refused offline with "needs a
// connection": what was typed stays on screen and nothing is stored.
// Forms marked `data-clear-queue` (sign-out) empty the queue before they go.
(() => {
  "use strict";

  const SOURCE = "mkassa-queue";
  // How long a page waits for the worker to answer before going on without it.
  const WORKER_ANSWER_MS = 3000;
  const worker = "serviceWorker" in navigator ? navigator.serviceWorker : null;

  function notice() {
    return document.getElementById("queue-notice");
  }

  function say(kind, label, withReload) {
    const box = notice();
    if (!box) return;
    box.textContent = (box.dataset[kind] || "").replace("{label}", label || "");
    if (withReload && !document.getElementById("queue-list")) {
      const again = document.createElement("a");
      again.href = "";
      again.textContent = box.dataset.reload;
      again.dataset.testid = "queue-reload";
      box.append(" ", again);
    }
    box.dataset.kind = kind;
    box.hidden = false;
  }

  // One question to the worker; the answer comes back on a private port.
  async function ask(message) {
    if (!worker) return null;
    const reg = await Promise.race([worker.ready, new Promise((done) => setTimeout(done, WORKER_ANSWER_MS))]);
    const active = reg?.active;
    if (!active) return null;
    return new Promise((done) => {
      const channel = new MessageChannel();
      const timer = setTimeout(() => done(null), message.type === "replay" ? 60_000 : WORKER_ANSWER_MS);
      channel.port1.onmessage = (event) => {
        clearTimeout(timer);
        done(event.data);
      };
      active.postMessage({ source: SOURCE, ...message }, [channel.port2]);
    });
  }

  function showCount(count) {
    for (const link of document.querySelectorAll("[data-queue-link]")) {
      link.hidden = !count;
      const number = link.querySelector('[data-testid="queue-count"]');
      if (number) number.textContent = String(count);
    }
  }

  async function refresh(type = "list", extra = {}) {
    const answer = await ask({ type, ...extra });
    if (!answer) return;
    showCount(answer.count);
    drawQueuePage(answer.entries);
  }

  // ---- Sending a form ------------------------------------------------------

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function needsConnection(form, submitter) {
    form.querySelector("[data-needs-connection]")?.remove();
    const box = notice();
    const message = document.createElement("p");
    message.className = "field-error";
    message.setAttribute("role", "alert");
    message.dataset.needsConnection = "";
    message.dataset.testid = "needs-connection";
    message.textContent = box?.dataset.needsConnection || "";
    const anchor = submitter && form.contains(submitter) ? submitter : null;
    if (anchor) anchor.before(message);
    else form.append(message);
  }

  async function enqueue(form, submitter) {
    // The key is made once per submission: a double tap sends the same key.
    const key = form.dataset.queueKey || newKey();
    form.dataset.queueKey = key;
    const owner = document.querySelector('meta[name="queue-owner"]')?.content || "";
    const body = new URLSearchParams(new FormData(form, submitter));
    const action = new URL(form.getAttribute("action") || location.href, location.href);
    const response = await fetch(action, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: {
        "Idempotency-Key": key,
        "X-Mkassa-Queue": "1",
        "X-Mkassa-Queue-Label": encodeURIComponent(form.dataset.queue),
        "X-Mkassa-Queue-Page": encodeURIComponent(location.pathname + location.search),
        "X-Mkassa-Queue-Owner": encodeURIComponent(owner),
      },
    });
    if (response.status !== 202) throw new Error(`not queued: ${response.status}`);
    return response.json();
  }

  document.addEventListener("submit", async (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") return;
    // htmx forms are refused offline in htmx:config:request below.
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-action")) return;
    const submitter = evt.submitter;

    if (navigator.onLine) {
      if (form.hasAttribute("data-clear-queue")) {
        // Sign-out: a shared phone keeps nothing of this user's queue.
        evt.preventDefault();
        await ask({ type: "clear" });
        HTMLFormElement.prototype.submit.call(form);  // no submit event: no loop
      } else if (form.dataset.fixing) {
        // The fixed copy of a refused action replaces it.
        evt.preventDefault();
        await ask({ type: "cancel", id: form.dataset.fixing });
        delete form.dataset.fixing;
        form.requestSubmit(submitter);
      }
      return;
    }

    evt.preventDefault();
    form.querySelector("[data-needs-connection]")?.remove();
    if (form.dataset.queue === undefined || !worker?.controller) {
      needsConnection(form, submitter);
      return;
    }
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    try {
      await enqueue(form, submitter);
      if (form.dataset.fixing) {
        await ask({ type: "cancel", id: form.dataset.fixing });
        delete form.dataset.fixing;
      }
      say("queued", form.dataset.queue);
      // A new entry is a new action: the next tap gets a new key.
      delete form.dataset.queueKey;
      form.reset();
    } catch {
      needsConnection(form, submitter);
    } finally {
      delete form.dataset.busy;
    }
  }, true);

  // htmx writes (hx-post and the like) offline: refused the same way.
  document.addEventListener("htmx:config:request", (evt) => {
    const { sourceElement, request } = evt.detail.ctx;
    if (request.method === "GET" || navigator.onLine) return;
    evt.preventDefault();
    const form = sourceElement?.closest?.("form") || sourceElement?.form;
    if (form) needsConnection(form, null);
  });

  window.addEventListener("online", () => {
    for (const old of document.querySelectorAll("[data-needs-connection]")) old.remove();
    refresh("replay");
  });

  // ---- Messages from the worker ---------------------------------------------

  worker?.addEventListener("message", (event) => {
    const data = event.data || {};
    if (data.source !== SOURCE) return;
    showCount(data.count);
    if (data.event === "sent") say("sent", data.label, true);
    else if (data.event === "failed") say("failed", data.label);
    else if (data.event === "signin") say("signin", data.label);
    if (document.getElementById("queue-list") && data.event !== "list") refresh();
  });

  // ---- The queue page (pwa/queue.html) ---------------------------------------

  function decode(text) {
    // The server's messages come as HTML text (entities); show them as text.
    return new DOMParser().parseFromString(`<p>${text}</p>`, "text/html").body.textContent;
  }

  function drawQueuePage(entries) {
    const list = document.getElementById("queue-list");
    if (!list || !entries) return;
    const strings = list.dataset;
    list.replaceChildren();
    const time = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
                                         { dateStyle: "short", timeStyle: "short" });
    for (const entry of entries) {
      const row = document.createElement("li");
      row.className = "queue-row" + (entry.failed ? " refused" : "");
      row.dataset.testid = "queue-row";
      row.dataset.id = entry.id;
      const what = document.createElement("strong");
      what.textContent = entry.label;
      const when = document.createElement("small");
      when.className = "muted";
      when.textContent = time.format(new Date(entry.at || entry.timestamp));
      const state = document.createElement("p");
      state.dataset.testid = "queue-state";
      row.append(what, " ", when, state);
      if (entry.failed) {
        state.className = "field-error";
        state.textContent = strings.refused;
        for (const message of entry.failed.messages || []) {
          const line = document.createElement("p");
          line.className = "field-error";
          line.dataset.testid = "queue-error";
          line.textContent = decode(message);
          row.append(line);
        }
      } else {
        state.textContent = strings.waiting;
      }
      const actions = document.createElement("div");
      actions.className = "queue-actions";
      if (entry.failed && entry.page) {
        const fix = document.createElement("a");
        fix.href = `${entry.page}#queue-fix=${encodeURIComponent(entry.id)}`;
        fix.setAttribute("role", "button");
        fix.dataset.testid = "queue-fix";
        fix.textContent = strings.fix;
        actions.append(fix);
      }
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "outline secondary";
      cancel.dataset.testid = "queue-cancel";
      cancel.textContent = strings.cancel;
      cancel.addEventListener("click", () => refresh("cancel", { id: entry.id }));
      actions.append(cancel);
      row.append(actions);
      list.append(row);
    }
    const empty = document.querySelector("[data-queue-empty]");
    if (empty) empty.hidden = entries.length > 0;
  }

  document.addEventListener("click", (evt) => {
    if (evt.target.closest?.("[data-queue-send]")) refresh("replay");
  });

  // ---- Fixing a refused action: its form, filled with what was sent ----------

  async function fillForFix() {
    const match = /^#queue-fix=(.+)$/.exec(location.hash);
    if (!match) return;
    const id = decodeURIComponent(match[1]);
    const answer = await ask({ type: "list" });
    const entry = answer?.entries.find((e) => e.id === id);
    // The form that sends where the refused request went (not the header's language switch).
    const target = (url) => new URL(url, location.href).href.split("#")[0];
    const form = [...document.querySelectorAll("form[data-queue]")]
      .find((f) => target(f.getAttribute("action") || location.href) === target(entry.url));
    if (!entry || !form) return;
    for (const [name, value] of entry.fields || []) {
      const field = form.elements.namedItem(name);
      if (field && "value" in field && field.type !== "hidden" && field.type !== "submit") field.value = value;
    }
    form.dataset.fixing = id;
  }

  // ---- App start ---------------------------------------------------------------

  async function start() {
    if (!worker) return;
    const owner = document.querySelector('meta[name="queue-owner"]')?.content;
    // Another user signed in on this phone: the worker drops what is not theirs.
    if (owner) await ask({ type: "owner", owner });
    await fillForFix();
    // Browsers without Background Sync (Safari, Firefox) send the queue here.
    await refresh(navigator.onLine ? "replay" : "list");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
