"""Working in shifts, as a new user tries it in Chromium: the owner turns shift mode on and confirms the
report address from the e-mail; a cashier opens a shift, takes two QR payments the sandbox payer pays,
closes the shift, and the report that reaches the owner's inbox (a real SMTP server) sums to what the
screen showed. (Chromium missing: skipped, or failed under CI=true, by the `browser` fixture.)"""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from mkassa.extensions import db
from mkassa.worker import Worker

from ..conftest import LiveServer
from ..smtp_server import SmtpServer
from .conftest import pay_in_sandbox


@pytest.fixture
def mail_server(make_app, demo):
    """The app with e-mail going to a test SMTP server, served on localhost with its outbox running."""
    smtp = SmtpServer()
    smtp.start()
    app = make_app(mail_server="127.0.0.1", mail_port=smtp.port)
    dispatcher = Worker(app, kind="thread")
    app.extensions["mkassa.dispatcher"] = dispatcher
    dispatcher.start_threads()
    try:
        with LiveServer(app) as server:
            yield server.url, smtp.inbox
    finally:
        dispatcher.stop()
        dispatcher.join()
        smtp.stop()
        with app.app_context():
            db.session.remove()


def signed_in(browser, url: str, login: str):
    context = browser.new_context(base_url=url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login")
    page.fill("[name=login]", login)
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))
    return context, page


def take_qr_payment(browser, url: str, page, amount: str) -> None:
    from playwright.sync_api import expect
    page.fill("input[name=amount]", amount)
    page.click("[data-testid=pay-qr]")
    status = page.locator("[data-testid=payment-status]")
    expect(status).to_have_attribute("data-status", "pending")
    link = page.locator("[data-testid=payment-link]").get_attribute("href")
    pay_in_sandbox(browser, url, link)
    # The live screen is the payment flow's own test (e2e/test_pay_qr.py); here the page is re-read.
    page.reload()
    expect(status).to_have_attribute("data-status", "succeeded")


def test_a_shift_from_opening_to_the_report_in_the_owners_inbox(browser, mail_server):
    from playwright.sync_api import expect
    url, inbox = mail_server

    owner_context, owner = signed_in(browser, url, "demo")
    owner.goto("/profile/")
    owner.select_option("#profile-lang", "en")  # the owner's language: the report's too
    owner.click("text=Change language")
    owner.click("[data-testid='section-shifts.settings']")
    owner.check("[data-testid=shift-mode-switch]")
    owner.click("[data-testid=shift-mode-save]")
    expect(owner.locator("[data-testid=shift-mode-switch]")).to_be_checked()
    owner.goto("/profile/")
    owner.click("[data-testid='section-shifts.email']")
    owner.fill("[data-testid=report-email]", "boss@example.com")
    owner.click("[data-testid=email-save]")
    expect(owner.locator("[data-testid=email-status]")).to_have_attribute("data-confirmed", "no")
    [confirmation] = inbox.wait_for(1)
    assert confirmation["To"] == "boss@example.com"
    # The link is on PUBLIC_BASE_URL (the test's is http://localhost); the test server has its own port.
    link = re.search(r"http://localhost(/shifts/email/confirm\?token=[\w.\-]+)",
                     confirmation.get_body(("plain",)).get_content()).group(1)
    owner.goto(link)
    owner.click("[data-testid=confirm-email]")
    expect(owner.locator("[data-testid=email-confirmed]")).to_contain_text("boss@example.com")
    owner_context.close()

    cashier_context, cashier = signed_in(browser, url, "cashier")
    cashier.goto("/")
    cashier.click("[data-testid=accept-payment]")
    expect(cashier.locator("[data-testid=shift-required]")).to_be_visible()
    cashier.click("[data-testid=shift-open]")
    expect(cashier.locator("[data-testid=shift-bar]")).to_be_visible()
    take_qr_payment(browser, url, cashier, "123,45")
    cashier.click("[data-testid=new-payment]")
    take_qr_payment(browser, url, cashier, "50")
    cashier.click("[data-testid=new-payment]")
    cashier.click("[data-testid=shift-bar-link]")
    cashier.click("[data-testid=shift-close]")
    # Asked first, told where the report goes (#11).
    expect(cashier.locator("[data-testid=shift-report-address]")).to_have_attribute("data-address", "boss@example.com")
    cashier.click("[data-testid=shift-close-submit]")
    expect(cashier.locator(".flash")).to_contain_text("boss@example.com")
    expect(cashier.locator("[data-testid=shift-state]")).to_have_attribute("data-state", "closed")
    total = cashier.locator("[data-testid=shift-paid-total]")
    on_screen, paid_count = int(total.get_attribute("data-amount")), int(total.get_attribute("data-count"))
    assert (on_screen, paid_count) == (17345, 2)
    cashier_context.close()

    report = inbox.wait_for(2)[1]
    assert report["To"] == "boss@example.com"
    [attachment] = list(report.iter_attachments())
    rows = [tuple(c.value for c in row) for row in load_workbook(io.BytesIO(attachment.get_content()))["Payments"].iter_rows()]
    paid_rows = [r for r in rows[9:] if r[3] == "Paid"]
    assert round(sum(r[4] for r in paid_rows) * 100) == on_screen and len(paid_rows) == paid_count
    [paid_line] = [r for r in rows if r[0] == "Paid"]
    assert round(paid_line[4] * 100) == on_screen and paid_line[1] == paid_count
