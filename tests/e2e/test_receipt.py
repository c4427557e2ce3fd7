"""The payer's receipt in Chromium (#17 item 4): pay 500,00 by QR in the sandbox, the cashier's
success screen offers the receipt's QR and link, and a fresh browser that never signed in opens it,
reads it in en, ru and ky at 360 px, and prints it on one A6 page."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .conftest import pay_in_sandbox
from .test_pay_qr import decode_qr
from .test_screens import _screenshot

SHOTS = Path(__file__).parent.parent.parent / "test-results" / "receipt"
A6_POINTS = (105 / 25.4 * 72, 148 / 25.4 * 72)  # 297.6 × 419.5 pt


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """The page sizes (points) of a PDF Chromium wrote: one MediaBox per page."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def test_payer_opens_the_receipt_signed_out_and_prints_it_on_one_page(demo, browser, page, live_server):
    from playwright.sync_api import expect
    page.goto("/login")
    page.fill("[name=login]", "demo")
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    page.goto("/pay/")
    page.fill("input[name=amount]", "500,00")
    page.click("[data-testid=pay-qr]")
    status = page.locator("[data-testid=payment-status]")
    expect(status).to_have_attribute("data-status", "pending")
    expect(page.locator("[data-testid=receipt-link]")).to_have_count(0)
    pay_in_sandbox(browser, live_server, page.locator("[data-testid=payment-link]").get_attribute("href"), 50000)
    page.bring_to_front()
    expect(status).to_have_attribute("data-status", "succeeded", timeout=10_000)

    href = page.locator("[data-testid=receipt-link]").get_attribute("href")
    assert re.fullmatch(r"http://localhost/r/[A-Za-z0-9_-]{22}", href)  # PUBLIC_BASE_URL + the token
    assert decode_qr(page.locator("[data-testid=receipt-qr]").screenshot()) == href
    page.set_viewport_size({"width": 360, "height": 800})
    _screenshot(page, SHOTS / "cashier-success-en-360.png")

    # The payer's own phone: a fresh browser, never signed in (the tests' PUBLIC_BASE_URL has no port).
    payer = browser.new_context(base_url=live_server, locale="en-US", viewport={"width": 360, "height": 800})
    try:
        receipt = payer.new_page()
        response = receipt.goto(urlsplit(href).path)
        assert response.status == 200 and "/login" not in receipt.url
        expect(receipt.locator("[data-testid=receipt-amount]")).to_have_text(re.compile(r"500\.00"))
        expect(receipt.locator("[data-testid=receipt-merchant]")).to_have_text("Demo Shop")
        expect(receipt.locator("[data-testid=receipt-payer]")).to_contain_text("MBANK")
        expect(receipt.locator("[data-testid=receipt-print]")).to_be_visible()  # print.js ran under the CSP
        share = receipt.locator("[data-testid=receipt-whatsapp]").get_attribute("href")
        assert share.startswith("https://wa.me/?text=") and parse_qs(urlsplit(share).query)["text"][0].endswith(" " + href)
        for lang in ("en", "ru", "ky"):
            receipt.click(f"[data-testid=lang-{lang}]")
            receipt.wait_for_function("lang => document.documentElement?.lang === lang", arg=lang)
            assert urlsplit(receipt.url).path == urlsplit(href).path  # the switch comes back here
            expect(receipt.locator("[data-testid=receipt-amount]")).to_have_attribute("data-amount", "50000")
            receipt.screenshot(path=str(SHOTS / f"public-{lang}-360.png"), full_page=True)

        receipt.emulate_media(media="print")
        expect(receipt.locator(".app-header")).to_be_hidden()
        expect(receipt.locator("[data-testid=receipt-whatsapp]")).to_be_hidden()
        receipt.screenshot(path=str(SHOTS / "public-ky-print.png"), full_page=True)
        pages = pdf_pages(receipt.pdf(prefer_css_page_size=True, print_background=True))
        assert len(pages) == 1
        assert abs(pages[0][0] - A6_POINTS[0]) < 2 and abs(pages[0][1] - A6_POINTS[1]) < 2
    finally:
        payer.close()


def test_a_receipt_id_never_issued_is_a_plain_404_in_the_browser(browser, live_server, demo):
    context = browser.new_context(base_url=live_server, locale="en-US")
    try:
        page = context.new_page()
        response = page.goto("/r/AAAAAAAAAAAAAAAAAAAAAA")
        assert response.status == 404
        assert page.locator("[data-testid=error]").get_attribute("data-status") == "404"
    finally:
        context.close()
