// Passkeys (WebAuthn) for quick access: registration after the PIN, sign-in on
// the lock screen. The server makes and checks every challenge; this file only
// carries bytes between it and navigator.credentials. Buttons stay hidden when
// the browser has no WebAuthn.
(() => {
  "use strict";

  function toBytes(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  function toB64url(buffer) {
    let text = "";
    new Uint8Array(buffer).forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  async function post(url, body) {
    const token = document.querySelector('meta[name="csrf-token"]').content;
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = new Error(data.error || response.statusText);
      err.translated = Boolean(data.error); // the server's message is in the page's language
      throw err;
    }
    return data;
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    return options;
  }

  function credentialJson(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  }

  // Only a path on this site: the server checks `next` already; this holds if that ever slips
  // (browsers read a backslash as "/", so "//host" and "/\\host" would both leave the site).
  function sameOrigin(target) {
    if (typeof target !== "string" || !target.startsWith("/") || /[\\\s\u0000-\u001f]/.test(target)) return "/";
    const url = new URL(target, window.location.origin);
    return url.origin === window.location.origin ? url.pathname + url.search + url.hash : "/";
  }

  async function run(button) {
    const error = document.querySelector("[data-passkey-error]");
    error.hidden = true;
    button.disabled = true;
    try {
      const options = await post(button.dataset.optionsUrl);
      const credential = button.dataset.passkey === "register"
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
      const result = await post(button.dataset.url, credentialJson(credential));
      window.location.assign(sameOrigin(result.redirect));
    } catch (err) {
      // The browser's own WebAuthn errors are English-only: the page carries a translated one (#11).
      error.textContent = err.translated ? err.message : error.dataset.failed;
      error.hidden = false;
      button.disabled = false;
    }
  }

  if (!window.PublicKeyCredential) return;
  document.querySelectorAll("[data-passkey]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => run(button));
  });
})();
