"""QR payments while the phone is offline (issue #16, item 6) in real Chromium.

The cashier's phone loses its network (context.set_offline), accepts 75,00 by QR: the QR is drawn on
the phone from a reserved id and marked as made offline. The payer pays it in the sandbox bank on a
phone of their own (online), before or after the cashier's phone is back; back online, the phone's
upload is sent from the queue and home shows the payment succeeded, counted once.
"""
from __future__ import annotations

import time

import pytest
from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import func, select

from mkassa import elqr
from mkassa.extensions import db
from mkassa.models import Payment
from mkassa.services import accept

from .conftest import pay_in_sandbox
from .test_offline_queue import phone_at_360, ready, sign_in
from .test_pay_qr import decode_qr

pytestmark = pytest.mark.e2e

REPLAY_MS = 30_000
OFFLINE_TEXT = "Offline: the confirmation comes when you are back online"


def read_payment(public_id: str) -> Payment | None:
    payment = db.session.scalar(select(Payment).where(Payment.public_id == public_id))
    if payment is not None:
        db.session.expunge(payment)
    db.session.rollback()  # a fresh read next time: the server commits in its own thread
    return payment


def wait_for(check, timeout_s: float = REPLAY_MS / 1000):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def home_figures(page) -> int:
    page.goto("/")
    return int(page.locator("[data-testid=today-total]").get_attribute("data-amount"))


def make_offline_qr(page, amount: str, decode: bool = True) -> tuple[str, str]:
    """On the accept screen, offline: "QR" draws the code on the phone. Returns (link, reserved id)."""
    page.goto("/pay/")
    ready(page)
    page.wait_for_function("() => localStorage.getItem('mkassa-offline') !== null")
    page.context.set_offline(True)
    page.fill("input[name=amount]", amount)
    page.click("[data-testid=pay-qr]")
    screen = page.locator("[data-testid=offline-qr]")
    expect(screen).to_be_visible()
    if decode:  # the English walk-throughs; the screens' test reads every language
        expect(screen).to_contain_text(OFFLINE_TEXT)
        # Written as the server writes amounts (formatting.money), not as the browser's locale would.
        expect(screen.locator("[data-offline-qr-amount]")).to_have_text(amount.replace(",", ".") + "\u00a0som")
    link = screen.get_attribute("data-link")
    # What the phone drew is that link, and a bank app would take it.
    assert not decode or decode_qr(page.locator("[data-offline-qr-picture]").screenshot()) == link
    assert elqr.checksum_ok(link)
    return link, screen.get_attribute("data-reservation")


@pytest.mark.parametrize("paid", ["before_upload", "after_upload"])
def test_accept_75_by_qr_offline_paid_from_the_sandbox_counted_once(demo, browser, page, live_server, paid):
    sign_in(page, "cashier")
    before = home_figures(page)

    link, reserved = make_offline_qr(page, "75,00")
    parsed = elqr.parse(link)
    assert (parsed.type, parsed.amount, parsed.transaction_id) == ("dynamic", 7500, reserved)
    assert parsed.recipient_id == demo.merchant.account_number
    # The upload waits in the queue.
    expect(page.locator('[data-testid="queue-count"]').first).to_have_text("1")
    assert read_payment(reserved) is None

    if paid == "before_upload":
        pay_in_sandbox(browser, live_server, link, amount=7500)  # the payer's phone is online
        recorded = wait_for(lambda: read_payment(reserved))
        assert (recorded.status, recorded.amount, recorded.offline_amount) == ("succeeded", 7500, None)
        page.context.set_offline(False)
    else:
        page.context.set_offline(False)
        wait_for(lambda: read_payment(reserved))
        assert read_payment(reserved).status == "pending"
        pay_in_sandbox(browser, live_server, link, amount=7500)

    # The phone's upload is matched with the Bank's payment: one payment, the phone's amount agrees.
    done = wait_for(lambda: (p := read_payment(reserved)) and p.offline_amount and p.status == "succeeded" and p)
    assert (done.amount, done.offline_amount, done.flagged, done.cashier_id) == (7500, 7500, False, demo.cashier.id)
    assert db.session.scalar(select(func.count()).select_from(Payment).where(Payment.public_id == reserved)) == 1
    # The phone's link is the one the server would have drawn for this payment (elqr.py).
    payment = db.session.scalar(select(Payment).where(Payment.public_id == reserved))
    assert accept.payment_link(payment, current_app.extensions["mkassa.settings"]) == link
    db.session.rollback()

    page.bring_to_front()
    assert home_figures(page) == before + 7500
    rows = page.locator(f"#payment-{reserved}")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-status", "succeeded")
    expect(page.locator('[data-testid="queue-count"]').first).to_be_hidden()


def test_sign_out_clears_the_reserved_ids_and_the_offline_page_shows_the_points_static_qr(demo, page):
    sign_in(page, "cashier")
    page.goto("/pay/")
    ready(page)
    page.wait_for_function("() => localStorage.getItem('mkassa-offline') !== null")
    page.context.set_offline(True)
    page.goto("/reports/")  # offline: the worker shows its anonymous /offline page
    static = page.locator("[data-testid=offline-static-qr]")
    expect(static).to_be_visible()
    link = decode_qr(page.locator("[data-offline-static] [data-offline-qr-picture]").screenshot())
    parsed = elqr.parse(link)
    assert (parsed.type, parsed.amount, parsed.transaction_id) == ("static", None, demo.cashier.point.reference)
    page.context.set_offline(False)
    page.goto("/profile/")
    page.click('[data-testid="logout"]')
    page.wait_for_url(lambda url: "/login" in url)
    assert page.evaluate("() => localStorage.getItem('mkassa-offline')") is None


@pytest.mark.parametrize("lang, locale", [("en", "en-US"), ("ru", "ru-RU"), ("ky", "ky-KG")])
def test_offline_qr_screens_at_360_px(demo, browser, live_server, lang, locale):
    """The accept screen's offline QR and the offline page with the point's static QR, at 360 px, checked
    like every screen (tests/e2e/test_screens.py), screenshots under test-results/screens/offline-qr/."""
    with phone_at_360(browser, live_server, lang, locale, "cashier", "offline-qr") as (page, look):
        make_offline_qr(page, "75", decode=False)
        look("accept-offline-qr")
        page.goto("/reports/")
        expect(page.locator("[data-testid=offline-static-qr]")).to_be_visible()
        look("offline-page")
