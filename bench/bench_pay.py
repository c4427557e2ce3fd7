"""Pay-to-screen latency in Chromium over BENCH_PAY_COUNT payments (default 200): from the payer's click on
"Pay" in the sandbox bank app to the cashier's screen showing `data-status="succeeded"`, p50/p95.

The app is served on localhost by a threaded Werkzeug server in this process, on a fresh SQLite
database (BENCH_DATABASE_URL=postgresql://… for PostgreSQL: give it an empty database). The demo owner
signs in once; each payment is then created in the browser (not timed), the payer's page opens its
link, and the time runs from the click to the success seen on the cashier's page, measured twice:
- by the browser's own clocks: the payer page's click event, and the first frame after the cashier
  page's DOM shows success (a MutationObserver, then requestAnimationFrame); both pages share one
  clock (performance.timeOrigin + now(), epoch milliseconds);
- by time.perf_counter() around Playwright's click() and wait_for_selector(), which adds Playwright's
  own round trips and its polling (click() also returns only once the payer page's POST answered).
Because the server runs in this process, the browser figure is split at three server-side points:
the payer's POST and the webhook request starting (Flask's request_started signal) and the live
message leaving (a subscriber on the payment's channel).
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from urllib.parse import quote

from .common import percentiles, scratch_app

COUNT = int(os.environ.get("BENCH_PAY_COUNT", "200"))
WARMUP = 3  # first payments, not counted: templates compiled, connections open, JIT warm
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


@contextmanager
def _serve(app):
    """The app on http://localhost:<free port>, threaded like `make run`."""
    from werkzeug.serving import make_server
    server = make_server("localhost", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


# In the cashier's pages: the first frame after the DOM shows success, in epoch milliseconds.
CASHIER_SCRIPT = """
new MutationObserver((_, observer) => {
  if (document.querySelector('[data-testid=payment-status][data-status=succeeded]')) {
    observer.disconnect();
    requestAnimationFrame(() => { window.__benchSucceededAt = performance.timeOrigin + performance.now(); });
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""
# In the payer's pages: the moment the "Pay" button is clicked, handed to Python at once.
PAYER_SCRIPT = """
document.addEventListener('click', (event) => {
  if (event.target.closest('[data-testid=payer-pay]')) window.__benchClicked(performance.timeOrigin + performance.now());
}, true);
"""


def _epoch_ms(perf: float) -> float:
    """A time.perf_counter() reading on the browser's clock (epoch milliseconds)."""
    return (perf - time.perf_counter() + time.time()) * 1000


class _ServerClock:
    """When the payer's POST and the webhook reached the app, and when the payment's message left."""

    def __init__(self, app) -> None:
        from flask import request, request_started
        self.app = app
        self.clicked = self.payer_post = self.webhook = self.published = None
        self._request = request
        request_started.connect(self._started, app)

    def _started(self, sender, **extra) -> None:
        now = time.perf_counter()
        if self._request.method != "POST":
            return
        if self._request.path == "/sandbox/pay":
            self.payer_post = now
        elif self._request.path == "/bank/webhooks":
            self.webhook = now

    def on_click(self, source, at_ms: float) -> None:
        self.clicked = at_ms

    def watch(self, public_id: str) -> threading.Thread:
        """Start listening on the payment's channel (before the click, so the message is not missed)."""
        from mkassa import live
        self.clicked = self.payer_post = self.webhook = self.published = None
        with self.app.app_context():
            subscription = live.broker().subscribe(live.payment_channel(public_id))

        def wait() -> None:
            try:
                if subscription.get(timeout=TIMEOUT_MS / 1000) is not None:
                    self.published = time.perf_counter()
            finally:
                subscription.close()
        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        return thread


def main() -> None:
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing (make chromium installs it as root): skipped")
        return
    from playwright.sync_api import sync_playwright

    from mkassa.extensions import db
    from mkassa.services import demo

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = scratch_app(os.environ.get("BENCH_DATABASE_URL"))
    with app.app_context():
        demo.seed(payments=0)
        db.session.commit()
        dialect = db.engine.dialect.name
        db.session.remove()
    clock = _ServerClock(app)
    browser_ms, harness = [], []
    parts = {"click → payer POST at the server": [], "payer POST → webhook at the server": [],
             "webhook → live message published": [], "published → success painted": []}
    with _serve(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cashier_context = browser.new_context(base_url=url, locale="en-US")
        payer_context = browser.new_context(base_url=url, locale="en-US")
        cashier_context.add_init_script(CASHIER_SCRIPT)
        payer_context.expose_binding("__benchClicked", clock.on_click)
        payer_context.add_init_script(PAYER_SCRIPT)
        cashier, payer = cashier_context.new_page(), payer_context.new_page()
        for page in (cashier, payer):
            page.set_default_timeout(TIMEOUT_MS)
        cashier.goto("/login")
        cashier.fill("[name=login]", "demo")
        cashier.fill("[name=password]", demo.DEMO_PASSWORD)
        cashier.click("[data-testid=login-submit]")
        cashier.wait_for_url(lambda u: "/login" not in u)
        started = time.perf_counter()
        for i in range(WARMUP + COUNT):
            public_id, link = _new_payment(cashier, i)
            payer.goto("/sandbox/pay?link=" + quote(link, safe=""))
            payer.wait_for_selector("[data-testid=payer-pay]")
            listener = clock.watch(public_id)
            t0 = time.perf_counter()
            payer.click("[data-testid=payer-pay]")
            cashier.wait_for_selector("[data-testid=payment-status][data-status=succeeded]")
            t1 = time.perf_counter()
            payer.wait_for_selector("[data-testid=payer-done]")
            listener.join(TIMEOUT_MS / 1000)
            painted = cashier.wait_for_function("window.__benchSucceededAt").json_value()
            if i < WARMUP:
                continue
            harness.append(t1 - t0)
            if clock.clicked is None:
                continue
            browser_ms.append(painted - clock.clicked)
            if None not in (clock.payer_post, clock.webhook, clock.published):
                parts["click → payer POST at the server"].append(_epoch_ms(clock.payer_post) - clock.clicked)
                parts["payer POST → webhook at the server"].append((clock.webhook - clock.payer_post) * 1000)
                parts["webhook → live message published"].append((clock.published - clock.webhook) * 1000)
                parts["published → success painted"].append(painted - _epoch_ms(clock.published))
        elapsed = time.perf_counter() - started
        browser.close()
    shutil.rmtree(app.instance_path, ignore_errors=True)  # the scratch SQLite file and instance secrets

    print(f"{dialect}, {COUNT} payments in Chromium ({elapsed:.0f} s with their creation); "
          f"{len(browser_ms)} seen by the browser's clocks")
    rows = [("pay-to-screen, browser clocks (click → painted)", [ms / 1000 for ms in browser_ms]),
            *((f"  {label}", [ms / 1000 for ms in samples]) for label, samples in parts.items()),
            ("pay-to-screen, perf_counter around Playwright", harness)]
    for label, samples in rows:
        if samples:
            p50, p95 = percentiles(samples)
            print(f"{label:50} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    if browser_ms and harness:
        print(f"difference of the two p50s (Playwright's round trips and polling): "
              f"{percentiles(harness)[0] - percentiles([ms / 1000 for ms in browser_ms])[0]:.1f} ms")


def _new_payment(cashier, i: int) -> tuple[str, str]:
    """The cashier accepts an amount; returns once the QR shows and the live stream is open."""
    cashier.goto("/pay/")
    cashier.fill("input[name=amount]", f"{100 + i % 900},{i % 100:02d}")
    with cashier.expect_response(lambda r: r.url.endswith("/events")):
        cashier.click("[data-testid=pay-qr]")
    cashier.wait_for_selector("[data-testid=payment-status][data-status=pending]")
    link = cashier.get_attribute("[data-testid=payment-link]", "href")
    public_id = cashier.url.rstrip("/").rsplit("/", 1)[-1]
    return public_id, link
