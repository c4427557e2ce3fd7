"""The first sale, as a new user tries it in Chromium: sign in, accept 123,45 by QR, the payer pays,
the screen turns to success by itself, and today's total grows by exactly 123,45.
(Chromium missing: skipped, or failed under CI=true, by the `browser` fixture in e2e/conftest.py.)"""
from __future__ import annotations

import io

from mkassa import elqr

from .conftest import pay_in_sandbox


def decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image
    # One code in the picture, whatever number of times the reader finds it (it sometimes reports
    # the same code twice: CI saw two results for one offline QR).
    [text] = {barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))}
    return text


def test_accept_123_45_by_qr_end_to_end(demo, browser, page, live_server):
    from playwright.sync_api import expect
    page.goto("/login")
    page.fill("[name=login]", "demo")
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    page.goto("/")
    before = int(page.locator("[data-testid=today-total]").get_attribute("data-amount"))

    page.click("[data-testid=accept-payment]")
    page.fill("input[name=amount]", "123,45")
    page.click("[data-testid=pay-qr]")
    status = page.locator("[data-testid=payment-status]")
    expect(status).to_have_attribute("data-status", "pending")

    link = decode_qr(page.locator("[data-testid=payment-qr]").screenshot())
    assert elqr.checksum_ok(link)
    assert elqr.parse(link).amount == 12345
    assert page.locator("[data-testid=payment-link]").get_attribute("href") == link

    pay_in_sandbox(browser, live_server, link, amount=12345)

    # No reload: the live stream turns the cashier's screen. (htmx pauses a stream while its tab is
    # hidden and resumes it, re-reading the state, when the tab is shown again.)
    page.bring_to_front()
    expect(status).to_have_attribute("data-status", "succeeded", timeout=10_000)
    expect(page.locator("[data-testid=payment-receipt]")).to_contain_text("MBANK")

    page.click("[data-testid=new-payment]")
    page.goto("/")
    assert int(page.locator("[data-testid=today-total]").get_attribute("data-amount")) == before + 12345
