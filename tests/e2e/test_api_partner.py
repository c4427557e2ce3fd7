"""The partner API tried as a new partner would (#18): the owner creates a key in the profile and sees
its secrets once; a plain HTTP client creates a 99,00 QR payment with it; the payer pays in the sandbox;
a signed callback reaches a local HTTP server and verifies with the reference standardwebhooks library;
the API lists the payment with the same day's total the home screen shows. Screenshots of the API
keys screen at 360 px in en, ru and ky (test-results/screens/api/)."""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from playwright.sync_api import expect
from standardwebhooks import Webhook

from .conftest import pay_in_sandbox
from .test_screens import _check, _screenshot

SCREENS_DIR = Path(__file__).resolve().parent.parent.parent / "test-results" / "screens" / "api"
CALLBACK_WAIT_SECONDS = 20


class Partner:
    def __init__(self):
        self.received: list[tuple[dict, str]] = []
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                partner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/mkassa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def call(base: str, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                              "Idempotency-Key": hashlib.sha256(f"{method}{path}{body}".encode()).hexdigest()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def sign_in_owner(page) -> None:
    page.goto("/login")
    page.fill("[name=login]", "demo")
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def test_a_new_partner_gets_a_key_takes_99_som_and_a_verified_callback(demo, browser, page, live_server):
    sign_in_owner(page)
    page.goto("/profile/")
    page.click("[data-testid='section-profile.api_keys']")
    page.fill("input[name=name]", "Web shop")
    page.click("[data-testid=api-key-create]")
    key = page.locator("[data-testid=api-key-secret]").input_value()
    secret = page.locator("[data-testid=api-callback-secret]").input_value()
    assert key.startswith("mk_test_") and secret.startswith("whsec_")
    page.goto("/profile/api-keys")  # a GET: the list, never the secrets again
    expect(page.locator("[data-testid=api-key-secret]")).to_have_count(0)
    expect(page.locator("[data-testid=api-key]")).to_contain_text("Web shop")

    partner = Partner()
    try:
        status, points = call(live_server, "GET", "/api/v1/points", key)
        point_id = points["data"][0]["id"]
        status, payment = call(live_server, "POST", "/api/v1/payments", key,
                               {"amount": 9900, "point_id": point_id, "order_ref": "WEB-1001",
                                "callback_url": partner.url})
        assert status == 201 and payment["status"] == "pending" and payment["amount"] == 9900

        pay_in_sandbox(browser, live_server, payment["elqr_link"], amount=9900)

        deadline = time.monotonic() + CALLBACK_WAIT_SECONDS
        while not partner.received and time.monotonic() < deadline:
            time.sleep(0.2)
        assert partner.received, "no callback arrived"
        headers, body = partner.received[0]
        event = Webhook(secret).verify(body, headers)
        assert event["type"] == "payment.succeeded"
        assert (event["data"]["id"], event["data"]["amount"], event["data"]["order_ref"]) == (
            payment["id"], 9900, "WEB-1001")
    finally:
        partner.close()

    status, got = call(live_server, "GET", f"/api/v1/payments/{payment['id']}", key)
    assert got["status"] == "succeeded" and got["paid_at"]
    total, cursor = 0, ""
    while True:
        _status, page_ = call(live_server, "GET", "/api/v1/payments?status=succeeded&limit=100" + cursor, key)
        total += sum(p["amount"] for p in page_["data"])
        if not page_["next_cursor"]:
            break
        cursor = "&cursor=" + page_["next_cursor"]
    page.goto("/")
    assert int(page.locator("[data-testid=today-total]").get_attribute("data-amount")) == total

    # The delivery, with its attempt, on the owner's screen.
    page.goto("/profile/api-keys")
    expect(page.locator("[data-testid=api-callback]").first).to_contain_text("payment.succeeded")
    expect(page.locator("[data-testid=api-callback]").first).to_contain_text("HTTP 204")


def test_api_keys_screen_at_360_px_in_three_languages(demo, browser, live_server):
    context = browser.new_context(base_url=live_server, locale="en-US", viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in_owner(page)
        page.goto("/profile/api-keys")
        page.fill("input[name=name]", "Кассовый аппарат №2 — сайт магазина")
        page.click("[data-testid=api-key-create]")
        expect(page.locator("[data-testid=api-key-secret]")).to_be_visible()
        problems = _check(page, "api-keys new en", thumb=True, axe=True)
        _screenshot(page, SCREENS_DIR / "en-360-api-keys-new.png")
        for lang in ("en", "ru", "ky"):
            page.goto("/profile/")
            page.click(f"[data-testid=lang-{lang}]")
            page.wait_for_function("lang => document.documentElement?.lang === lang", arg=lang)
            page.goto("/profile/api-keys")
            problems += _check(page, f"api-keys {lang}", thumb=True, axe=True)
            _screenshot(page, SCREENS_DIR / f"{lang}-360-api-keys.png")
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_api_docs_page_renders_the_document_within_the_csp(demo, browser, live_server):
    from .test_csp import Watch
    watch = Watch(browser, live_server)
    try:
        watch.visit("/api/docs")
        expect(watch.page.locator("[data-testid=api-docs]")).to_contain_text("/api/v1/payments")
        expect(watch.page.locator("[data-testid=api-docs]")).to_contain_text("MKASSA partner API")
        watch.check()
        assert not watch.problems, "\n".join(watch.problems)
    finally:
        watch.close()
