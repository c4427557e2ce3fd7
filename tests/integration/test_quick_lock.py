"""Quick lock and sign-out on a quick-access phone (#11), as banking apps do.

Before: the app locked only after 30 idle minutes (anyone picking up the phone within that time was
in), "Sign out" left quick access on the phone (the PIN signed straight back in), and devices were
named by raw User-Agent strings.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from mkassa.config import SESSION_IDLE_SECONDS
from mkassa.extensions import db
from mkassa.models import Device, Merchant, Passkey, utcnow
from mkassa.models.merchant import QUICK_LOCK_DEFAULT_MINUTES, QUICK_LOCK_MAX_MINUTES, QUICK_LOCK_MIN_MINUTES
from mkassa.services import devices
from mkassa.templating import QUICK_LOCK_REPORT_SECONDS

from .test_quick_access import create_pin, post

ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36")


@pytest.fixture
def phone(client, auth, demo):
    """The owner signed in on a phone with quick access (PIN 4826)."""
    client.environ_base["HTTP_USER_AGENT"] = ANDROID_CHROME
    auth.login("demo")
    create_pin(client, auth)
    return demo


def on_screen(client, auth, token: str | None = None) -> int:
    """What static/js/quick-lock.js sends while the page is visible (`token`: the page's CSRF token,
    read beforehand, since reading it opens a page)."""
    return client.post("/session/open", headers={"X-CSRFToken": token or auth.csrf("/profile/"),
                                                 "HX-Request": "true",
                                                 "HX-Current-URL": "http://localhost/profile/"}).status_code


def test_the_default_quick_lock_time_is_two_minutes():
    assert QUICK_LOCK_DEFAULT_MINUTES == 2 and (QUICK_LOCK_MIN_MINUTES, QUICK_LOCK_MAX_MINUTES) == (1, 15)
    # A visible page reports often enough never to be locked by the shortest choice.
    assert QUICK_LOCK_REPORT_SECONDS * 2 < QUICK_LOCK_MIN_MINUTES * 60


def test_reopened_after_the_quick_lock_time_the_phone_asks_for_the_pin(client, auth, phone):
    with time_machine.travel(utcnow(), tick=False) as clock:
        assert on_screen(client, auth) == 204  # the page's last report as the app goes to the background
        clock.shift(timedelta(minutes=QUICK_LOCK_DEFAULT_MINUTES))  # exactly the limit: still open
        assert client.get("/profile/").status_code == 200
        assert on_screen(client, auth) == 204
        clock.shift(timedelta(minutes=QUICK_LOCK_DEFAULT_MINUTES, seconds=1))  # in the background too long
        response = client.get("/profile/")
        assert response.status_code == 302 and response.headers["Location"] == "/lock?next=/profile/"
        # The PIN reopens it where it was.
        response = post(client, auth, "/lock?next=/profile/", {"pin": "4826"}, page="/lock")
        assert response.headers["Location"] == "/profile/"


def test_a_page_on_screen_stays_open_but_the_idle_limit_still_applies(client, auth, phone):
    with time_machine.travel(utcnow(), tick=False) as clock:
        token = auth.csrf("/profile/")
        for _ in range(10 * 60 // QUICK_LOCK_REPORT_SECONDS):  # ten minutes on screen, nobody touching it
            clock.shift(timedelta(seconds=QUICK_LOCK_REPORT_SECONDS))
            assert on_screen(client, auth, token) == 204
        token = auth.csrf("/profile/")  # a tap: activity
        for _ in range(SESSION_IDLE_SECONDS // QUICK_LOCK_REPORT_SECONDS + 1):
            clock.shift(timedelta(seconds=QUICK_LOCK_REPORT_SECONDS))
            if on_screen(client, auth, token) != 204:
                break
        else:
            pytest.fail("a page left on screen must not keep the session forever")
        assert client.get("/profile/").headers["Location"].startswith("/lock?")


def test_the_report_of_a_page_reopened_too_late_names_the_lock_screen(client, auth, phone):
    with time_machine.travel(utcnow(), tick=False) as clock:
        token = auth.csrf("/profile/")
        assert on_screen(client, auth, token) == 204  # the last report, as the app went to the background
        clock.shift(timedelta(minutes=QUICK_LOCK_DEFAULT_MINUTES, seconds=1))
        response = client.post("/session/open", headers={"X-CSRFToken": token, "HX-Request": "true",
                                                         "HX-Current-URL": "http://localhost/reports/"})
        assert response.status_code == 401 and response.headers["HX-Redirect"] == "/lock?next=/reports/"


def test_without_quick_access_only_the_idle_limit_applies(client, auth, demo):
    auth.login("demo")
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.get("/profile/")
        clock.shift(timedelta(minutes=QUICK_LOCK_MAX_MINUTES + 1))  # no PIN to ask for on this browser
        assert client.get("/profile/").status_code == 200


def test_the_owner_chooses_the_quick_lock_time_within_bounds(client, auth, phone):
    form = lambda m: post(client, auth, "/account/quick-lock", {"minutes": m}, page="/account/devices")  # noqa: E731
    for bad in ("0", "16", "", "2.5", "abc"):
        response = form(bad)
        assert response.status_code == 422 and "Choose from 1 to 15 minutes." in response.get_data(as_text=True)
    assert form("15").status_code == 302 and form("1").status_code == 302
    assert db.session.get(Merchant, phone.merchant.id).quick_lock_minutes == 1
    with time_machine.travel(utcnow(), tick=False) as clock:
        on_screen(client, auth)
        clock.shift(timedelta(minutes=1, seconds=1))
        assert client.get("/profile/").headers["Location"].startswith("/lock?")


def test_a_cashier_cannot_change_the_quick_lock_time(client, auth, demo):
    auth.login("cashier")
    assert post(client, auth, "/account/quick-lock", {"minutes": "15"}, page="/account/devices").status_code == 403


def test_devices_are_named_readably(client, auth, phone):
    html = client.get("/account/devices").get_data(as_text=True)
    assert "Chrome on Android" in html and "Mozilla" not in html


def test_sign_out_asks_about_quick_access_and_an_owner_keeps_it_by_default(client, auth, phone):
    page = client.get("/logout").get_data(as_text=True)
    assert 'value="keep" checked' in page and 'data-testid="logout-forget"' in page
    assert client.get("/profile/").get_data(as_text=True).count('href="/logout"') == 1
    post(client, auth, "/logout", {"quick_access": "keep"}, page="/logout")
    assert client.get("/").headers["Location"].startswith("/lock?")  # the PIN still opens the app
    assert post(client, auth, "/lock", {"pin": "4826"}).status_code == 302


def test_forgetting_the_phone_on_sign_out_switches_off_its_pin_and_passkeys(client, auth, phone):
    device = db.session.scalar(select(Device).where(Device.revoked_at.is_(None)))
    db.session.add(Passkey(user_id=device.user_id, credential_id="cred-this-phone", public_key=b"k",
                           device_id=device.id))
    db.session.add(Passkey(user_id=device.user_id, credential_id="cred-laptop", public_key=b"k"))
    db.session.commit()
    response = post(client, auth, "/logout", {"quick_access": "forget"}, page="/logout")
    assert response.headers["Location"] == "/login"
    db.session.expire_all()
    assert db.session.get(Device, device.id).revoked_at is not None
    revoked = {p.credential_id: p.revoked_at is not None for p in db.session.scalars(select(Passkey))}
    assert revoked == {"cred-this-phone": True, "cred-laptop": False}
    assert client.get_cookie(devices.DEVICE_COOKIE) is None
    assert client.get("/").headers["Location"].startswith("/login")  # no lock screen: the PIN is gone


def test_a_cashier_signing_out_forgets_the_shared_phone_by_default(client, auth, demo):
    auth.login("cashier")
    create_pin(client, auth)
    assert 'value="forget" checked' in client.get("/logout").get_data(as_text=True)
    post(client, auth, "/logout", {}, page="/logout")  # no choice sent (an old page): the role's default
    assert db.session.scalar(select(Device).where(Device.revoked_at.is_(None))) is None
