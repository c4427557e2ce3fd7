"""In Chromium, as a new owner would (issue #17): take 500,00 by QR in the sandbox, refund 200,00 with
the SMS code; the payment shows "Partly refunded", the available balance and the reports' net drop by
200,00, and a second refund of 400,00 is refused with a clear message."""
from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from .conftest import pay_in_sandbox
from .test_payouts import last_sms_id, sign_in, sms_code

SANDBOX_SECONDS = 1
WAIT_SECONDS = 20


@pytest.fixture
def quick_sandbox_bank(_app, monkeypatch):
    """Payments settle and refunds complete within seconds instead of the sandbox's default delays."""
    settings = _app.extensions["mkassa.settings"]
    monkeypatch.setitem(_app.extensions, "mkassa.settings",
                        replace(settings, sandbox_settle_seconds=SANDBOX_SECONDS, sandbox_refund_seconds=SANDBOX_SECONDS))


def decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return barcode.text


def figure(page, path: str, testid: str) -> int:
    page.goto(path)
    return int(page.locator(f'[data-testid="{testid}"]').get_attribute("data-amount"))


def settled(page) -> int:
    """The available balance once nothing is left in processing (the sandbox has settled every payment)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if figure(page, "/payouts/", "balance-processing") == 0:
            return figure(page, "/payouts/", "balance-available")
        time.sleep(0.5)
    raise AssertionError("the sandbox never settled the payments")


def test_refund_part_of_a_qr_payment_with_the_sms_code(demo, browser, page, live_server, quick_sandbox_bank):
    phone = demo.owner.phone.lstrip("+")
    sign_in(page)
    net_before = figure(page, "/reports/?period=today", "report-net")

    page.goto("/pay/")
    page.fill("input[name=amount]", "500")
    page.click("[data-testid=pay-qr]")
    expect(page.locator("[data-testid=payment-status]")).to_have_attribute("data-status", "pending")
    payment_url = page.url
    pay_in_sandbox(browser, live_server, decode_qr(page.locator("[data-testid=payment-qr]").screenshot()),
                   amount=50_000)
    page.bring_to_front()
    expect(page.locator("[data-testid=payment-status]")).to_have_attribute("data-status", "succeeded",
                                                                          timeout=10_000)
    available = settled(page)
    assert figure(page, "/reports/?period=today", "report-net") == net_before + 50_000

    # Refund 200,00: the amount, then the code from the SMS.
    page.goto(payment_url)
    page.click("[data-testid=refund]")
    expect(page.locator("input[name=amount]")).to_have_value("500.00")  # the whole payment by default
    seen = last_sms_id(page, phone)
    page.fill("input[name=amount]", "200")
    page.click("[data-testid=refund-submit]")
    expect(page.locator("[data-testid=code-sent]")).to_be_visible()
    _, code = sms_code(page, phone, seen)
    page.fill("input[name=code]", code)
    page.click("[data-testid=refund-submit]")
    expect(page.locator("[data-testid=refund-row]")).to_have_count(1)
    assert page.url == payment_url

    # The sandbox bank returns it to the payer a moment later.
    deadline = time.monotonic() + WAIT_SECONDS
    while page.locator('[data-testid=refund-row][data-status="succeeded"]').count() == 0:
        assert time.monotonic() < deadline, "the sandbox bank never completed the refund"
        time.sleep(0.5)
        page.reload()
    expect(page.locator("[data-testid=payment-refund-state]")).to_have_attribute("data-state", "partly_refunded")
    expect(page.locator("[data-testid=payment-refund-state]")).to_have_text("Partly refunded")

    assert figure(page, "/payouts/", "balance-available") == available - 20_000
    assert figure(page, "/reports/?period=today", "report-net") == net_before + 50_000 - 20_000
    assert figure(page, "/reports/?period=today", "report-refunds") == 20_000

    # 400,00 more than what is left (300,00): refused next to the field, nothing moves.
    page.goto(payment_url)
    page.click("[data-testid=refund]")
    page.fill("input[name=amount]", "400")
    page.click("[data-testid=refund-submit]")
    expect(page.locator("[data-testid=amount-error]")).to_contain_text(
        "This is more than is left to refund: at most 300.00")
    assert figure(page, "/payouts/", "balance-available") == available - 20_000
