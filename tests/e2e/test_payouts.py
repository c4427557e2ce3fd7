"""In Chromium, as a new owner would: withdraw part of the available money to MBANK with the SMS code."""
from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from playwright.sync_api import expect

SANDBOX_PAYOUT_SECONDS = 2
SMS_WAIT_SECONDS = 15


@pytest.fixture
def quick_sandbox_bank(_app, monkeypatch):
    """The sandbox bank pays out after SANDBOX_PAYOUT_SECONDS instead of its default delay."""
    settings = _app.extensions["mkassa.settings"]
    monkeypatch.setitem(_app.extensions, "mkassa.settings", replace(settings, sandbox_payout_seconds=SANDBOX_PAYOUT_SECONDS))


def sign_in(page) -> None:
    page.goto("/login")
    skip = page.locator('[data-testid="onboarding-skip"]')
    if skip.count() and skip.first.is_visible():
        skip.first.click()
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "demo1234")
    page.click('[data-testid="login-submit"]')
    expect(page).not_to_have_url(re.compile(r"/login"))


def amounts(page) -> dict[str, int]:
    page.goto("/payouts/")
    found = {"processing": 0, "available": 0, "payout_pending": 0}
    for kind in found:
        cell = page.locator(f'[data-testid="balance-{kind.replace("_", "-")}"]')
        if cell.count():
            found[kind] = int(cell.get_attribute("data-amount"))
    return found


def sms_code(page, phone: str, newer_than: int) -> tuple[int, str]:
    """The code from the newest SMS in the sandbox outbox (/sandbox/sms.json), once it has arrived."""
    deadline = time.monotonic() + SMS_WAIT_SECONDS
    while time.monotonic() < deadline:
        messages = page.request.get(f"/sandbox/sms.json?phone={phone}").json()
        if messages and messages[0]["id"] > newer_than:
            return messages[0]["id"], re.search(r"(?<![\d,.])(\d{4})(?![\d,.])", messages[0]["text"]).group(1)
        time.sleep(0.2)
    raise AssertionError("no SMS arrived")


def last_sms_id(page, phone: str) -> int:
    messages = page.request.get(f"/sandbox/sms.json?phone={phone}").json()
    return messages[0]["id"] if messages else 0


def test_owner_withdraws_with_the_sms_code_and_sees_it_complete(page, demo, quick_sandbox_bank):
    phone = demo.owner.phone.lstrip("+")
    sign_in(page)
    page.goto("/")
    page.click("text=Withdraw")
    expect(page.locator('[data-testid="mbank-phone"]')).to_have_text(demo.merchant.mbank_phone)
    time.sleep(1.5)  # let the sandbox's settlement beat run once, so the balances hold still
    before = amounts(page)
    assert before["available"] > 10_000

    # Too large an amount: refused next to the field, nothing changes.
    too_much = before["available"] + 1
    page.fill('[data-testid="payout-amount"]', f"{too_much // 100},{too_much % 100:02d}")
    page.click('[data-testid="payout-submit"]')
    expect(page.locator('[data-testid="amount-error"]')).to_contain_text("Not enough money available")
    assert amounts(page) == before
    expect(page.locator('[data-testid="payout-row"]')).to_have_count(0)

    # Part of it: "Confirm withdrawal" sends a code.
    seen = last_sms_id(page, phone)
    page.fill('[data-testid="payout-amount"]', "100")
    page.click('[data-testid="payout-submit"]')
    expect(page.locator('[data-testid="code-sent"]')).to_be_visible()
    _, code = sms_code(page, phone, seen)

    # A wrong code: refused, nothing moves (checked in a second tab).
    page.fill('[data-testid="payout-code"]', f"{(int(code) + 1) % 10000:04d}")
    page.click('[data-testid="payout-confirm"]')
    expect(page.locator("#e-code")).to_have_text("Wrong or expired code.")
    other = page.context.new_page()
    assert amounts(other) == before
    other.close()

    page.fill('[data-testid="payout-code"]', code)
    page.click('[data-testid="payout-confirm"]')
    success = page.locator('[data-testid="payout-success"]')
    expect(success).to_be_visible()
    expect(success).to_contain_text("Success!")
    # The status turns "Paid out" by itself once the sandbox bank has paid it out.
    expect(page.locator('[data-testid="payout-status"]')).to_have_attribute(
        "data-status", "succeeded", timeout=(SANDBOX_PAYOUT_SECONDS + 10) * 1000)

    after = amounts(page)
    assert after["available"] + after["processing"] == before["available"] + before["processing"] - 10_000
    assert after["payout_pending"] == before["payout_pending"]
    row = page.locator('[data-testid="payout-row"]')
    expect(row).to_have_count(1)
    expect(row.locator('[data-testid="payout-status"]')).to_have_text("Paid out")


def test_balances_move_at_once_when_confirmed(page, demo, _app, monkeypatch):
    """Before the Bank has answered, the reserved money has already left "Available"."""
    settings = _app.extensions["mkassa.settings"]
    monkeypatch.setitem(_app.extensions, "mkassa.settings", replace(settings, sandbox_payout_seconds=3600))
    phone = demo.owner.phone.lstrip("+")
    sign_in(page)
    time.sleep(1.5)
    before = amounts(page)
    seen = last_sms_id(page, phone)
    page.fill('[data-testid="payout-amount"]', "250")
    page.click('[data-testid="payout-submit"]')
    _, code = sms_code(page, phone, seen)
    page.fill('[data-testid="payout-code"]', code)
    page.click('[data-testid="payout-confirm"]')
    expect(page.locator('[data-testid="payout-success"]')).to_be_visible()
    after = amounts(page)
    assert after["payout_pending"] == before["payout_pending"] + 25_000
    assert after["available"] + after["processing"] == before["available"] + before["processing"] - 25_000
    expect(page.locator('[data-testid="payout-row"] [data-testid="payout-status"]')).not_to_have_attribute(
        "data-status", "succeeded")
