"""In Chromium: the point's QR sheet prints without the app around it and scans; the notifications
page's script runs under the CSP and offers the switch."""
from __future__ import annotations

import io

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from mkassa import elqr


def sign_in(page, login="demo"):
    page.goto("/login")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "demo1234")
    page.click('[data-testid="login-submit"]')
    expect(page).not_to_have_url("/login")


def csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


def test_printed_sheet_shows_only_the_scannable_qr(page, demo):
    errors = csp_errors(page)
    sign_in(page)
    page.goto(f"/points/{demo.points[0].public_id}/qr?paper=a4")
    expect(page.locator('[data-testid="qr-print"]')).to_be_visible()  # print.js ran
    expect(page.locator(".bottom-nav")).to_be_visible()

    page.emulate_media(media="print")

    for hidden in (".app-header", ".bottom-nav", '[data-testid="qr-print"]', '[data-testid="qr-paper-a5"]'):
        expect(page.locator(hidden)).to_be_hidden()
    sheet = page.locator('[data-testid="qr-sheet"]')
    expect(sheet).to_contain_text("Demo Shop")
    expect(sheet).to_contain_text("Scan with any Kyrgyz bank app")
    expect(sheet).to_contain_text(demo.points[0].name)
    link = page.locator('[data-testid="static-qr"]').get_attribute("data-link")
    shot = Image.open(io.BytesIO(page.locator('[data-testid="static-qr"] svg').screenshot()))
    assert zxingcpp.read_barcode(shot).text == link
    assert elqr.checksum_ok(link) and elqr.parse(link).transaction_id == demo.points[0].reference
    assert errors == []


def test_notifications_page_offers_the_switch(page, demo):
    errors = csp_errors(page)
    sign_in(page)
    page.goto("/notifications")
    toggle = page.locator('[data-testid="push-toggle"]')
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Turn on notifications")
    expect(page.locator('[data-testid="push-status"]')).to_have_text("Notifications are off for this device.")
    assert errors == []
