"""The PIN screens as a phone shows them (#11): the keypad and four dots, no empty text box beside
them, no bottom menu during set-up, and the phone's own keyboard kept closed; a hardware keyboard
still types the PIN."""
from __future__ import annotations

import re

PIN = "4826"


def test_pin_set_up_shows_dots_and_keypad_only(demo, page):
    page.goto("/login")
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "demo1234")
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/quick-access\?"))
    page.locator(".pin-keypad").wait_for()
    box = page.locator('input[name="pin"]').bounding_box()
    assert box["width"] <= 1 and box["height"] <= 1, box  # out of sight, still in the form
    assert page.locator('input[name="pin"]').get_attribute("inputmode") == "none"
    assert page.locator(".bottom-nav").count() == 0
    for digit in PIN[:2]:
        page.locator(f'.pin-keypad button[data-key="{digit}"]').click()
    assert page.locator(".pin-dots span.filled").count() == 2
    page.locator('.pin-keypad button[data-key="clear"]').click()
    assert page.locator(".pin-dots span.filled").count() == 0
    # A hardware keyboard types into the hidden field; the dots follow and the fourth digit goes on.
    page.locator('input[name="pin"]').focus()
    with page.expect_navigation():
        page.keyboard.type(PIN[:3])
        assert page.locator(".pin-dots span.filled").count() == 3
        page.keyboard.type(PIN[3])
        page.locator('[data-testid="pin-submit"]').click()
    page.wait_for_url(re.compile(r"/quick-access/repeat"))
    assert page.locator(".bottom-nav").count() == 0
