"""NFC stickers in Chromium (#15 item 6). Headless Chromium has no Web NFC, so a stand-in NDEFReader
is injected before the page loads (an init script): it records what the page writes and locks, and
answers a scan with the link the test prepares. Without it the controls do not appear."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mkassa import elqr

from .test_csp import COLLECT
from .test_screens import _check, _screenshot

SHOTS = Path(__file__).parent.parent.parent / "test-results" / "nfc"

FAKE_NDEF_READER = """
window.__nfc = { writes: [], locks: 0, scanLink: null };
class NDEFReader extends EventTarget {
  async write(message) { window.__nfc.writes.push(JSON.parse(JSON.stringify(message))); }
  async makeReadOnly() { window.__nfc.locks += 1; }
  async scan(options) {
    const link = window.__nfc.scanLink;
    setTimeout(() => {
      if (options && options.signal && options.signal.aborted) return;
      const event = new Event("reading");
      event.serialNumber = "04:a2:6b:1a:2c:5e:80";
      event.message = { records: [{ recordType: "url", mediaType: null, encoding: null,
                                    data: new DataView(new TextEncoder().encode(link).buffer) }] };
      this.dispatchEvent(event);
    }, 50);
  }
}
window.NDEFReader = NDEFReader;
"""


def signed_in(browser, live_server, nfc: bool, lang: str = "en"):
    context = browser.new_context(base_url=live_server, locale="en-US", viewport={"width": 360, "height": 800})
    context.add_init_script(COLLECT)
    if nfc:
        context.add_init_script(FAKE_NDEF_READER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login")
    page.fill("[name=login]", "demo")
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))
    if lang != "en":
        page.click(f"[data-testid=lang-{lang}]")
        page.wait_for_function("lang => document.documentElement?.lang === lang", arg=lang)
    return context, page


def pending_qr(page) -> str:
    page.goto("/pay/")
    page.fill("input[name=amount]", "1234,50")
    page.click("[data-testid=pay-qr]")
    expect(page.locator("[data-testid=payment-status]")).to_have_attribute("data-status", "pending")
    return page.locator("[data-testid=payment-link]").get_attribute("href")


def csp_violations(page) -> list[str]:
    page.wait_for_timeout(150)
    return page.evaluate("window.__csp || []")


def test_without_web_nfc_no_sticker_control_appears(browser, live_server, demo):
    context, page = signed_in(browser, live_server, nfc=False)
    try:
        pending_qr(page)
        expect(page.locator("[data-testid=nfc-write]")).to_be_hidden()
        page.goto(f"/points/{demo.points[0].public_id}/qr")
        for control in ("nfc-write", "nfc-lock", "nfc-check"):
            expect(page.locator(f"[data-testid={control}]")).to_be_hidden()
        assert page.evaluate("document.documentElement.classList.contains('has-nfc')") is False
    finally:
        context.close()


def test_the_dynamic_qr_is_written_as_one_url_record(browser, live_server, demo):
    context, page = signed_in(browser, live_server, nfc=True)
    try:
        link = pending_qr(page)
        assert elqr.parse(link).amount == 123450
        page.click("[data-testid=nfc-write]")
        expect(page.locator("[data-testid=nfc-status]")).to_contain_text("Written")
        assert page.evaluate("window.__nfc.writes") == [{"records": [{"recordType": "url", "data": link}]}]
        assert csp_violations(page) == []
    finally:
        context.close()


def test_static_sheet_writes_locks_after_confirmation_and_checks_stickers(browser, live_server, demo):
    point = demo.points[0]
    context, page = signed_in(browser, live_server, nfc=True)
    try:
        payment_link = pending_qr(page)
        page.goto(f"/points/{point.public_id}/qr")
        static = page.locator("[data-testid=static-qr]").get_attribute("data-link")
        status = page.locator("[data-testid=nfc-status]")

        page.click("[data-testid=nfc-write]")
        expect(status).to_contain_text("Written")
        assert page.evaluate("window.__nfc.writes") == [{"records": [{"recordType": "url", "data": static}]}]

        # Lock asks first; "Cancel" leaves the sticker writable.
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.click("[data-testid=nfc-lock]")
        page.wait_for_timeout(200)
        assert asked and "Nobody" in asked[0] and page.evaluate("window.__nfc.locks") == 0
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("[data-testid=nfc-lock]")
        expect(status).to_contain_text("Locked")
        assert page.evaluate("window.__nfc.locks") == 1

        cases = [(static, "true", f"Point “{point.name}” of Demo Shop"),
                 (payment_link, "true", "Payment of 1,234.50"),
                 ("https://example.com/menu", "false", "does not carry an MKASSA payment link")]
        for link, mkassa, words in cases:
            page.evaluate("link => { window.__nfc.scanLink = link; }", link)
            page.click("[data-testid=nfc-check]")
            expect(status).to_contain_text(words)
            expect(status).to_have_attribute("data-mkassa", mkassa)
        assert csp_violations(page) == []
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "ru", "ky"])
def test_screens_with_web_nfc(browser, live_server, demo, lang):
    """The QR screen and the point's sheet with the sticker controls shown, and a check's answer, at
    360 px: the screen check's rules (fit, contrast, targets, axe), and screenshots for a person."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    context, page = signed_in(browser, live_server, nfc=True, lang=lang)
    try:
        link = pending_qr(page)
        expect(page.locator("[data-testid=nfc-write]")).to_be_visible()
        problems = _check(page, f"{lang} qr-pending", thumb=True, axe=True)
        _screenshot(page, SHOTS / f"{lang}-360-qr-pending.png")
        page.goto(f"/points/{demo.points[0].public_id}/qr")
        page.evaluate("link => { window.__nfc.scanLink = link; }", link)
        page.click("[data-testid=nfc-check]")
        expect(page.locator("[data-testid=nfc-status]")).to_have_attribute("data-mkassa", "true")
        for control in ("nfc-write", "nfc-lock", "nfc-check"):
            box = page.locator(f"[data-testid={control}]").bounding_box()
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 360
        problems += _check(page, f"{lang} point-qr", thumb=True, axe=True)
        _screenshot(page, SHOTS / f"{lang}-360-point-qr.png")
        assert problems == []  # the screen check's rules (test_screens.py), with the controls shown
    finally:
        context.close()
