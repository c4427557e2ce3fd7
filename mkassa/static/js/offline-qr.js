// QR payments while the phone is offline (issue #16, item 6; the server's side is services/offline.py).
//
// While online, a signed-in merchant user's page keeps this device's stock of reserved payment ids
// fresh (POST /pay/reservations) in localStorage, with the merchant's QR fields and the point's
// static link. Offline, "QR" on the accept screen builds the dynamic ELQR link here (elqr.js), draws
// it (the vendored qrcode-generator), marks it as made offline, and queues the upload of the id,
// amount and time through the offline queue (static/js/queue.js). The Bank's notice reaches the
// server meanwhile; the server matches the two. The offline page draws the point's static QR.
//
// What is kept belongs to one user: another user's page, and sign-out, remove it.
(() => {
  "use strict";

  const STORE = "mkassa-offline";
  // A page refreshes the stock at most this often; the accept screen always does.
  const REFRESH_MS = 5 * 60 * 1000;

  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORE));
    } catch {
      return null;
    }
  }
  const save = (kept) => localStorage.setItem(STORE, JSON.stringify(kept));
  const clear = () => localStorage.removeItem(STORE);

  async function refresh(force) {
    const url = meta("offline-reservations");
    if (!url || !navigator.onLine) return;
    const kept = load();
    if (!force && kept?.owner === meta("queue-owner") && Date.now() - kept.fetchedAt < REFRESH_MS) return;
    let data;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": meta("csrf-token"), Accept: "application/json" },
      });
      if (!response.ok) return;
      data = await response.json();
    } catch {
      return;  // offline after all: keep what the phone has
    }
    const before = load();
    // Ids this phone has put into a QR stay used until the server stops listing them (uploaded or paid).
    const used = (before?.owner === data.owner ? before.used || [] : []).filter((id) => data.ids.some((r) => r.id === id));
    save({ owner: data.owner, fetchedAt: Date.now(), data, used });
  }

  // A reserved id this phone has not put into a QR yet, still valid; null when none is left.
  function freeId(kept) {
    const now = Date.now();
    return kept.data.ids.find((r) => !kept.used.includes(r.id) && Date.parse(r.expires_at) > now)?.id || null;
  }

  // What this user's phone keeps, when it can make an offline QR now.
  function usable() {
    const kept = load();
    return kept && kept.owner === meta("queue-owner") && freeId(kept) ? kept : null;
  }

  // The QR drawer and ELQR builder, loaded once, on demand (see pay/new.html): offline they come
  // from the worker's precache. Resolves false when they cannot be had (no worker on this page).
  let scripts = null;
  function loadScripts(form) {
    if (globalThis.MkassaElqr && globalThis.qrcode) return Promise.resolve(true);
    scripts ??= Promise.all((form.dataset.offlineScripts || "").split(" ").filter(Boolean).map((src) =>
      new Promise((resolve, reject) => {
        const tag = document.createElement("script");
        tag.src = src;
        tag.onload = resolve;
        tag.onerror = reject;
        document.head.append(tag);
      }))).then(() => Boolean(globalThis.MkassaElqr && globalThis.qrcode), () => {
      scripts = null;  // try again next time
      return false;
    });
    return scripts;
  }

  // What a person types: "75", "75,5", "1 234.50" (any space), in tyiyn; null when it is not an amount.
  function parseAmount(text) {
    const cleaned = text.replace(/[\s\u00a0\u202f\u2009]/g, "").replace(/(сом|som|kgs)$/i, "");
    const match = /^(\d{1,13})(?:[.,](\d{1,2}))?$/.exec(cleaned);
    if (!match) return null;
    return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  }

  // As the server writes amounts in the page's language (formatting.money): its group and decimal marks.
  function formatAmount(tyiyn, marks) {
    const whole = String(Math.floor(tyiyn / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, marks.group);
    return `${whole}${marks.decimal}${String(tyiyn % 100).padStart(2, "0")}\u00a0${marks.unit}`;
  }

  function drawQr(box, link, title) {
    const code = globalThis.qrcode(0, "M");  // error correction M, as the server's segno codes
    code.addData(link);
    code.make();
    box.innerHTML = code.createSvgTag({ cellSize: 1, margin: 4, scalable: true, title });
  }

  function showError(form, text) {
    form.querySelector("[data-offline-qr-error]")?.remove();
    if (!text) return;
    const line = document.createElement("p");
    line.className = "field-error";
    line.setAttribute("role", "alert");
    line.dataset.offlineQrError = "";
    line.dataset.testid = "offline-qr-error";
    line.textContent = text;
    form.querySelector("[data-offline-qr-button]").before(line);
  }

  async function offlineQr(form, kept) {
    const amount = parseAmount(form.elements.namedItem("amount").value);
    if (amount === null || amount <= 0) return showError(form, form.dataset.badAmount);
    if (amount > kept.data.max_amount) return showError(form, form.dataset.tooMuch);
    if (!(await loadScripts(form))) {
      // No worker to give the tools: as for any payment offline (queue.js's notice carries the text).
      return showError(form, document.querySelector("div[data-needs-connection]")?.dataset.needsConnection);
    }
    const id = freeId(kept);
    kept.used.push(id);
    save(kept);
    showError(form, null);
    const q = kept.data.qr;
    const link = await MkassaElqr.build({
      type: "dynamic", provider_id: q.provider_id, service_code: q.service_code, recipient_id: q.recipient_id,
      transaction_id: id, amount_editable: false, recipient_editable: false, mcc: q.mcc, currency: q.currency,
      amount, name: q.name,
    }, q.base_url);
    const screen = document.getElementById("offline-qr");
    screen.querySelector("[data-offline-qr-amount]").textContent = formatAmount(amount, form.dataset);
    const picture = screen.querySelector("[data-offline-qr-picture]");
    drawQr(picture, link, picture.getAttribute("aria-label"));
    screen.dataset.link = link;
    screen.dataset.reservation = id;
    screen.hidden = false;
    form.hidden = true;
    // The phone's word, sent once it is back online (the server acts once however often it comes).
    const upload = document.getElementById("offline-upload");
    upload.elements.namedItem("reservation").value = id;
    upload.elements.namedItem("amount").value = (amount / 100).toFixed(2);
    upload.elements.namedItem("made_at").value = new Date().toISOString();
    upload.requestSubmit();
  }

  // Before queue.js's own handler (window comes before document): offline, "QR" is made here.
  window.addEventListener("submit", (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.hasAttribute("data-clear-queue")) clear();  // sign-out: nothing of this user stays
    if (navigator.onLine || !form.hasAttribute("data-offline-qr")) return;
    if (!evt.submitter?.hasAttribute("data-offline-qr-button")) return;  // "Card" needs a connection
    // No reserved id on this phone: queue.js says "needs a connection", as for any payment.
    const kept = usable();
    if (!kept) return;
    evt.preventDefault();
    evt.stopImmediatePropagation();
    offlineQr(form, kept);
  }, true);

  document.addEventListener("click", (evt) => {
    if (!evt.target.closest?.("[data-offline-qr-done]")) return;
    const screen = document.getElementById("offline-qr");
    const form = document.querySelector("form[data-offline-qr]");
    screen.hidden = true;
    form.hidden = false;
    form.elements.namedItem("amount").value = "";
  });

  // The offline page (anonymous, precached): the point's static QR from what this phone keeps.
  function drawStatic() {
    const box = document.querySelector("[data-offline-static]");
    const stat = load()?.data?.static;
    if (!box || !stat || !globalThis.qrcode) return;
    box.querySelector("[data-offline-static-point]").textContent = stat.point;
    const picture = box.querySelector("[data-offline-qr-picture]");
    drawQr(picture, stat.link, picture.getAttribute("aria-label"));
    box.dataset.link = stat.link;
    box.hidden = false;
  }

  function start() {
    const owner = meta("queue-owner");
    // Another user signed in on this phone: what the last one kept goes.
    if (owner && load()?.owner && load().owner !== owner) clear();
    drawStatic();
    refresh(Boolean(document.querySelector("form[data-offline-qr]")));
  }
  window.addEventListener("online", () => refresh(false));
  // Losing the network on the accept screen: the QR tools are fetched now, before "QR" is pressed.
  window.addEventListener("offline", () => {
    const form = document.querySelector("form[data-offline-qr]");
    if (form) loadScripts(form);
  });
  // After every deferred script: the QR drawer (vendor qrcode.js) comes after this one on the page.
  if (document.readyState === "complete") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
