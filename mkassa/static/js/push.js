// Payment notifications on /notifications: subscribe this browser to web push
// with our VAPID public key and tell the server, or undo both. The texts come
// translated in data-* attributes of #push-control; the server side of a
// subscription is idempotent, so a repeated click or a retry does no harm.
(() => {
  "use strict";

  const control = document.getElementById("push-control");
  if (!control) return;
  const status = control.querySelector("[data-testid=push-status]");
  const button = control.querySelector("[data-testid=push-toggle]");
  const devices = document.querySelector("[data-testid=push-devices]");
  const text = control.dataset;

  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (!supported) return; // the server-rendered status already says so

  // pushManager.subscribe() takes the key as bytes; it comes as URL-safe base64.
  function keyBytes(base64url) {
    const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  async function post(url, body) {
    const token = document.querySelector('meta[name="csrf-token"]');
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.content : "" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const answer = await response.json();
    if (devices && answer.devices_text) devices.textContent = answer.devices_text;
    return answer;
  }

  function show(subscribed, message) {
    control.dataset.subscribed = subscribed ? "true" : "false";
    button.textContent = subscribed ? text.labelOff : text.labelOn;
    button.hidden = false;
    status.textContent = message ?? (subscribed ? text.msgOn : text.msgOff);
  }

  async function current() {
    const registration = await navigator.serviceWorker.ready;
    return registration.pushManager.getSubscription();
  }

  async function turnOn() {
    if ((await Notification.requestPermission()) !== "granted") {
      show(false, text.msgDenied);
      return;
    }
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(text.vapidKey),
    });
    await post(text.subscribeUrl, subscription.toJSON());
    show(true);
  }

  async function turnOff() {
    const subscription = await current();
    if (subscription) {
      // The server forgets it first: a failed request leaves both sides subscribed, not split.
      await post(text.unsubscribeUrl, { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    show(false);
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await (control.dataset.subscribed === "true" ? turnOff() : turnOn());
    } catch (err) {
      console.warn("push:", err);
      status.textContent = text.msgFailed;
    } finally {
      button.disabled = false;
    }
  });

  (async () => {
    if (Notification.permission === "denied") {
      show(false, text.msgDenied);
      return;
    }
    const subscription = await current();
    // A subscription the browser still has is re-sent, so the server relearns one it dropped.
    if (subscription) await post(text.subscribeUrl, subscription.toJSON()).catch(() => {});
    show(Boolean(subscription));
  })();
})();
