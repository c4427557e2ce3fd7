"""A passkey that fails shows the app's translated message, not the browser's English one (#11)."""
from __future__ import annotations

from .test_quick_access import _first_sign_in

REFUSE = """() => {
  navigator.credentials.create = () => Promise.reject(
    new DOMException("The operation either timed out or was not allowed.", "NotAllowedError"));
}"""


def test_a_refused_passkey_says_so_in_the_apps_words(demo, page):
    _first_sign_in(page)
    page.evaluate(REFUSE)
    page.get_by_test_id("passkey-register").click()
    error = page.locator("[data-passkey-error]")
    error.wait_for()
    assert error.inner_text() == "The passkey could not be added. Please try again."
