"""Quick access in Chromium as a new user would try it: intro, sign-in, PIN twice, lock screen, passkey.

`demo` comes before `page`: the demo is seeded before the server and its dispatcher start.
"""
from __future__ import annotations

import re

from sqlalchemy import select, update

from mkassa.extensions import db
from mkassa.models import Passkey, UserSession
from mkassa.models.base import utcnow

PIN = "4826"
HOME = re.compile(r"^http://localhost:\d+/\??$")


def _type_pin(page, pin: str) -> None:
    """Tap the keypad like a thumb would; the fourth digit submits the form."""
    with page.expect_navigation():
        for digit in pin:
            page.locator(f'.pin-keypad button[data-key="{digit}"]').click()


def _first_sign_in(page) -> None:
    page.goto("/login")
    page.get_by_test_id("onboarding").wait_for()
    page.get_by_test_id("onboarding-skip").click()
    page.wait_for_url(re.compile(r"/login"))
    assert page.get_by_test_id("onboarding").count() == 0
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "demo1234")
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/quick-access\?"))
    _type_pin(page, PIN)
    page.wait_for_url(re.compile(r"/quick-access/repeat"))
    page.fill('input[name="pin"]', PIN)
    page.get_by_test_id("pin-submit").click()
    page.wait_for_url(re.compile(r"/quick-access/passkey"))


def _idle_out(page) -> None:
    """The sign-in session is gone (as after 30 idle minutes); the device cookie stays.

    Ended on the server, not only by dropping the cookie: an answer still in flight (quick-lock.js
    reports the open page every few seconds) re-sends the permanent session cookie, which would
    otherwise bring the session back and show home instead of the lock screen.
    """
    db.session.execute(update(UserSession).where(UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    db.session.commit()
    page.context.clear_cookies(name="mkassa")


def test_pin_creation_and_lock_screen(demo, page):
    _first_sign_in(page)
    page.get_by_test_id("passkey-skip").wait_for()
    _idle_out(page)
    page.goto("/profile/")
    page.wait_for_url(re.compile(r"/lock\?"))
    page.get_by_test_id("lock-screen").wait_for()
    page.fill('input[name="pin"]', "1357")
    page.get_by_test_id("pin-submit").click()
    assert "Wrong PIN" in page.get_by_test_id("lock-error").inner_text()
    _type_pin(page, PIN)
    page.wait_for_url(re.compile(r"/profile/$"))
    page.get_by_test_id("profile-login").wait_for()


def test_passkey_registration_and_login(demo, page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    _first_sign_in(page)
    with page.expect_response(lambda r: "/passkeys?" in r.url) as registered:
        page.get_by_test_id("passkey-register").click()
    assert registered.value.ok
    # The page goes on to home by itself; a goto racing that move was aborted (CI: net::ERR_ABORTED).
    page.wait_for_url(HOME)
    owner_id = demo.owner.id
    db.session.rollback()  # a fresh snapshot, and no lock held while the server works
    stored = db.session.scalar(select(Passkey))
    assert stored is not None and stored.user_id == owner_id
    first_count = stored.sign_count
    db.session.rollback()
    page.goto("/quick-access/passkey")  # a page without live updates, then the session ends
    _idle_out(page)
    page.goto("/")
    page.wait_for_url(re.compile(r"/lock"))
    page.get_by_test_id("passkey-login").click()
    page.wait_for_url(HOME)
    page.get_by_test_id("today-total").wait_for()
    db.session.rollback()
    used = db.session.scalar(select(Passkey))
    assert used.last_used_at is not None and used.sign_count >= first_count
    db.session.rollback()
