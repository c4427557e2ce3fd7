"""In Chromium, as a new user: sign in with the demo credentials, see the shell, switch language."""
from __future__ import annotations

import re

from playwright.sync_api import expect


def _skip_intro(page):
    skip = page.locator('[data-testid="onboarding-skip"]')
    if skip.count() and skip.first.is_visible():
        skip.first.click()


def test_demo_owner_signs_in_and_switches_language(page, demo):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    _skip_intro(page)
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "wrong-password")
    page.click('[data-testid="login-submit"]')
    expect(page.locator('[data-testid="login-error"]')).to_be_visible()
    _skip_intro(page)
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "demo1234")
    page.click('[data-testid="login-submit"]')
    page.goto("/")
    expect(page.locator('[data-testid="today-total"]')).to_be_visible()
    expect(page.locator(".bottom-nav a").first).to_be_visible()
    for lang, word in (("ky", "Бүгүн"), ("ru", "Сегодня"), ("en", "Today")):
        page.click(f'[data-testid="lang-{lang}"]')
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("#today-h")).to_have_text(word)
    # Remembered: a new page load keeps the last choice.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator('[data-testid="lang-en"]')).to_have_attribute("aria-current", "true")
    # A thumb can hit each language: no 38-px dropdown plus an "OK" button (#11).
    for lang in ("ru", "ky", "en"):
        box = page.locator(f'[data-testid="lang-{lang}"]').bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, (lang, box)
