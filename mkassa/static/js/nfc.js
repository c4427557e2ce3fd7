// NFC stickers (Web NFC, Chrome on Android): write a payment link to a sticker, lock it, check what
// a sticker carries. Where the browser has no Web NFC (iPhone, desktop, other browsers) nothing
// shows: the controls are drawn only under html.has-nfc (css/app.css), set here. No browser can
// read a bank card: card taps go through the MPOS terminal, not through this.
(() => {
  "use strict";
  if (!("NDEFReader" in window)) return;
  document.documentElement.classList.add("has-nfc");

  const say = (box, text, mkassa) => {
    const out = box.querySelector("[data-nfc-status]");
    out.textContent = text;
    if (mkassa === undefined) delete out.dataset.mkassa;
    else out.dataset.mkassa = String(mkassa);
  };

  async function write(box, link) {
    say(box, box.dataset.msgHold);
    try {
      // One record, the link itself: the payer's phone opens it in their bank app.
      await new NDEFReader().write({ records: [{ recordType: "url", data: link }] });
      say(box, box.dataset.msgWritten);
    } catch {
      say(box, box.dataset.msgWriteFailed);
    }
  }

  async function lock(box) {
    if (!window.confirm(box.dataset.msgConfirmLock)) return;
    say(box, box.dataset.msgHold);
    try {
      await new NDEFReader().makeReadOnly();
      say(box, box.dataset.msgLocked);
    } catch {
      say(box, box.dataset.msgLockFailed);
    }
  }

  // The text of the first URL record (else the first text record): what the server judges.
  function linkOf(message) {
    const records = Array.from(message?.records || []);
    const record = records.find((r) => r.recordType === "url" || r.recordType === "absolute-url")
      || records.find((r) => r.recordType === "text");
    if (!record || !record.data) return "";
    return new TextDecoder(record.encoding || "utf-8").decode(record.data);
  }

  async function describe(box, link) {
    const meta = document.querySelector("meta[name=csrf-token]");
    const response = await fetch(box.dataset.checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": meta ? meta.content : "" },
      body: new URLSearchParams({ link }),
    });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  function check(box) {
    const reader = new NDEFReader();
    const stop = new AbortController();
    say(box, box.dataset.msgHold);
    reader.addEventListener("reading", async (evt) => {
      stop.abort();  // one sticker per tap of the button
      try {
        const answer = await describe(box, linkOf(evt.message));
        say(box, answer.message, answer.mkassa);
      } catch {
        say(box, box.dataset.msgReadFailed);
      }
    });
    reader.addEventListener("readingerror", () => say(box, box.dataset.msgReadFailed));
    reader.scan({ signal: stop.signal }).catch(() => say(box, box.dataset.msgReadFailed));
  }

  // Delegated: the payment view is swapped in by htmx, with its buttons.
  document.addEventListener("click", (evt) => {
    const button = evt.target.closest("[data-nfc] button");
    if (!button) return;
    const box = button.closest("[data-nfc]");
    if (button.matches("[data-nfc-write]")) write(box, button.dataset.nfcLink);
    else if (button.matches("[data-nfc-lock]")) lock(box);
    else if (button.matches("[data-nfc-check]")) check(box);
  });
})();
