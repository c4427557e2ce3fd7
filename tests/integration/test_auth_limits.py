"""Lock-outs a stranger cannot cause (#12.3, #11): the attacker slows himself, never the owner.

Addresses are set per request (REMOTE_ADDR, or X-Forwarded-For through a trusted proxy); the
owner's phone is a browser holding the device cookie of his quick access.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update

from mkassa.extensions import db
from mkassa.models import User, utcnow
from mkassa.services import otp, recovery
from mkassa.services.auth import LOGIN_ACCOUNT, LOGIN_ADDRESS, LOGIN_DEVICE

from .test_quick_access import sms_to

OWNER_PHONE = "+996555123456"
PIN = "4826"
NEW_PASSWORD = "Tulpar-Ala-Too-7"
ATTACKER = "203.0.113.66"
OWNER_HOME = "198.51.100.7"


@pytest.fixture
def en(client, demo):
    db.session.execute(update(User).values(locale="en"))
    db.session.commit()


def _csrf(c, path="/login"):
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get(path).get_data(as_text=True)).group(1)


def sign_in(c, login="demo", password="demo1234", address=OWNER_HOME, headers=None):
    return c.post("/login", data={"login": login, "password": password, "csrf_token": _csrf(c)},
                  environ_overrides={"REMOTE_ADDR": address}, headers=headers or {})




def owners_phone(app, client):
    """The owner's own phone: signed in once, quick access set up, then the session ended."""
    assert sign_in(client).status_code == 302
    token = _csrf(client, "/quick-access")
    client.post("/quick-access", data={"pin": PIN, "csrf_token": token})
    client.post("/quick-access/repeat", data={"pin": PIN, "csrf_token": token})
    client.post("/logout", data={"csrf_token": _csrf(client, "/")})
    return client


def test_a_dozen_good_sign_ins_in_a_quarter_hour_never_lock_the_owner(app, client, demo):
    for _ in range(12):
        assert sign_in(client).status_code == 302
        client.post("/logout", data={"csrf_token": _csrf(client, "/")})


def test_wrong_passwords_from_another_address_do_not_lock_the_owner(app, client, demo, en):
    attacker = app.test_client()
    for _ in range(LOGIN_ADDRESS.limit):
        assert sign_in(attacker, password="guess", address=ATTACKER).status_code == 401
    assert sign_in(attacker, address=ATTACKER).status_code == 429  # even the right password: he waits
    assert sign_in(client, address=OWNER_HOME).status_code == 302


def test_behind_a_proxy_each_client_is_counted_by_its_own_address(make_app, demo):
    from tests.conftest import FreshContextClient
    app = make_app(trusted_proxies=1)
    app.test_client_class = FreshContextClient
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    attacker, owner = app.test_client(), app.test_client()

    def via_proxy(c, forwarded, password, login="demo"):
        return c.post("/login", data={"login": login, "password": password, "csrf_token": _csrf(c)},
                      environ_overrides=proxy, headers={"X-Forwarded-For": forwarded})
    # 31 attackers behind the bank's proxy, one wrong password each for some shop: nobody else is locked.
    for n in range(31):
        assert via_proxy(app.test_client(), f"192.0.2.{n}", "guess", login=f"shop{1000 + n}").status_code == 401
    # One attacker cannot pose as many: what he writes into X-Forwarded-For himself is not believed.
    for n in range(LOGIN_ADDRESS.limit):
        assert via_proxy(attacker, f"1.2.3.{n}, {ATTACKER}", "guess").status_code == 401
    assert via_proxy(attacker, f"9.9.9.9, {ATTACKER}", "demo1234").status_code == 429
    assert via_proxy(owner, OWNER_HOME, "demo1234").status_code == 302


def test_without_trusted_proxies_a_forwarded_header_changes_nothing(app, client, demo):
    for n in range(LOGIN_ADDRESS.limit):
        client.post("/login", data={"login": "demo", "password": "guess", "csrf_token": _csrf(client)},
                    headers={"X-Forwarded-For": f"192.0.2.{n}"})
    response = client.post("/login", data={"login": "demo", "password": "demo1234", "csrf_token": _csrf(client)},
                           headers={"X-Forwarded-For": "192.0.2.200"})
    assert response.status_code == 429


def test_a_botnet_reaches_the_account_limit_but_the_owner_signs_in_on_his_phone(app, client, demo, en):
    phone = owners_phone(app, client)
    with time_machine.travel(utcnow(), tick=False) as clock:
        # Guess budget: from all other browsers together, LOGIN_ACCOUNT.limit passwords a day are checked.
        checked = 0
        for n in range(LOGIN_ACCOUNT.limit + 20):
            status = sign_in(app.test_client(), password=f"guess-{n}", address=f"192.0.2.{n}").status_code
            checked += status == 401
            assert status in (401, 429)
        assert checked == LOGIN_ACCOUNT.limit
        refused = sign_in(app.test_client(), address="192.0.2.250")
        assert refused.status_code == 429 and "from other devices" in refused.get_data(as_text=True)
        # The owner was told once, in his language.
        notices = [t for t in sms_to(OWNER_PHONE) if "wrong passwords" in t]
        assert len(notices) == 1 and "quick access still works" in notices[0]
        # His own phone is not locked: the PIN, and the password too.
        lock = phone.post("/lock", data={"pin": PIN, "csrf_token": _csrf(phone, "/lock")},
                          environ_overrides={"REMOTE_ADDR": "192.0.2.1"})
        assert lock.status_code == 302 and lock.headers["Location"] == "/"
        phone.post("/logout", data={"csrf_token": _csrf(phone, "/")})
        assert sign_in(phone, address="192.0.2.1").status_code == 302
        # A day later the account is open again to other browsers.
        clock.shift(timedelta(seconds=LOGIN_ACCOUNT.window_seconds + 1))
        assert sign_in(app.test_client(), address="192.0.2.251").status_code == 302


def test_the_owners_phone_has_a_limit_of_its_own(app, client, demo):
    phone = owners_phone(app, client)
    for n in range(LOGIN_DEVICE.limit):
        assert sign_in(phone, password="typo", address=f"198.51.100.{n}").status_code == 401
    assert sign_in(phone, address="198.51.100.99").status_code == 429
    # Its failures do not count against the account elsewhere.
    assert sign_in(app.test_client(), address=OWNER_HOME).status_code == 302


def test_the_guess_budget_stays_small():
    """Per account and day: 30 passwords from all other browsers + 10 per own device, and 10 SMS
    codes (1 in 10^4 each) + 10 per own device. At most 0.2 % a day for a code with two devices."""
    assert LOGIN_ACCOUNT.limit <= 30 and LOGIN_ACCOUNT.window_seconds >= 24 * 3600
    assert LOGIN_DEVICE.limit <= 10 and LOGIN_DEVICE.window_seconds >= 24 * 3600
    assert recovery.CODE_ADDRESS.limit < otp.LOCK_AFTER_FAILURES <= 10
    assert recovery.CODE_DEVICE.limit <= 10 and recovery.CODE_DEVICE.window_seconds >= 24 * 3600
    assert recovery.RECOVER_ADDRESS.limit < recovery.RECOVER_PHONE.limit


# --- Recovery by phone number -------------------------------------------------------------------

def recover(c, phone=OWNER_PHONE, address=ATTACKER):
    return c.post("/recover", data={"phone": phone, "csrf_token": _csrf(c, "/recover")},
                  environ_overrides={"REMOTE_ADDR": address})


def reset(c, code, address=ATTACKER):
    return c.post("/recover/confirm", data={"code": code, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD,
                                            "pin": PIN, "pin_repeat": PIN, "csrf_token": _csrf(c, "/recover/confirm")},
                  environ_overrides={"REMOTE_ADDR": address})


def last_code():
    return re.findall(r"\b(\d{4})\b", [t for t in sms_to(OWNER_PHONE) if "recovery code" in t][-1])[-1]


def test_a_stranger_with_the_phone_number_cannot_lock_recovery(app, client, demo, en):
    stranger = app.test_client()
    with time_machine.travel(utcnow(), tick=False) as clock:
        # He asks for codes and types wrong ones for as long as he is let.
        for hour in range(24):
            if recover(stranger).status_code == 302:
                while reset(stranger, "0000" if last_code() != "0000" else "0001").status_code == 422:
                    pass
            clock.shift(timedelta(hours=1))
        owner = db.session.get(User, demo.owner.id)
        assert not otp.is_locked(owner, "password")
        # The owner, from his own address, gets a code and sets a new password.
        assert recover(client, address=OWNER_HOME).status_code == 302
        assert reset(client, last_code(), address=OWNER_HOME).headers["Location"] == "/"


def test_a_locked_account_still_recovers_on_the_owners_phone(app, client, demo, en):
    phone = owners_phone(app, client)
    owner = db.session.get(User, demo.owner.id)
    with time_machine.travel(utcnow(), tick=False) as clock:
        n = 0
        while not otp.is_locked(owner, "password"):
            stranger = app.test_client()
            recover(stranger, address=f"192.0.2.{n}")
            for _ in range(otp.MAX_TRIES):
                reset(stranger, "0000" if last_code() != "0000" else "0001", address=f"192.0.2.{n}")
            n += 1
            clock.shift(timedelta(minutes=13))  # under the phone's hourly code limit
            db.session.commit()
        assert n > 1  # more than one address was needed
        # Other browsers are locked for 24 h; the owner's phone (forgot PIN) is not.
        assert recover(phone, address="192.0.2.200").status_code == 302
        assert reset(phone, last_code(), address="192.0.2.200").headers["Location"] == "/"


def test_wrong_codes_on_the_owners_phone_are_limited_on_it(app, client, demo, en):
    phone = owners_phone(app, client)
    with time_machine.travel(utcnow(), tick=False) as clock:
        wrong = 0
        while True:
            assert recover(phone, address=OWNER_HOME).status_code == 302
            statuses = [reset(phone, "0000" if last_code() != "0000" else "0001", address=OWNER_HOME).status_code
                        for _ in range(otp.MAX_TRIES)]
            wrong += statuses.count(422)
            if 429 in statuses:
                break
            clock.shift(timedelta(hours=1, seconds=1))
        assert wrong == recovery.CODE_DEVICE.limit
        assert "Too many wrong codes on this device" in reset(phone, last_code(), address=OWNER_HOME).get_data(as_text=True)


def test_throttled_attempts_do_not_extend_the_wait(app, client, demo):
    """Refused attempts are not counted: once the window passes, the next attempt is let through."""
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(LOGIN_ADDRESS.limit):
            sign_in(client, password="guess", address=ATTACKER)
        for _ in range(20):
            clock.shift(timedelta(seconds=30))
            assert sign_in(client, password="guess", address=ATTACKER).status_code == 429
        clock.shift(timedelta(seconds=LOGIN_ADDRESS.window_seconds - 600 + 1))
        assert sign_in(client, address=ATTACKER).status_code == 302


def test_the_request_flood_guard_speaks_the_users_language(app, client, demo):
    """The limiter's own 429 shows a sentence in the user's language, not its rule (#11)."""
    from mkassa.blueprints.auth.recovery import RECOVER_LIMIT_PER_ADDRESS
    client.set_cookie("lang", "ky", domain="localhost")
    token = _csrf(client, "/recover")
    for _ in range(int(RECOVER_LIMIT_PER_ADDRESS.split()[0])):
        assert client.post("/recover", data={"phone": "12345", "csrf_token": token}).status_code == 422
    response = client.post("/recover", data={"phone": "12345", "csrf_token": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "per 1 hour" not in body and "30 per" not in body
    with app.test_request_context(headers={"Cookie": "lang=ky"}):
        from flask_babel import force_locale, gettext
        with force_locale("ky"):
            assert gettext("Too many attempts. Please wait a little and try again.") in body


def test_old_attempts_are_purged(app, demo):
    from mkassa.models import AuthAttempt
    from mkassa.services import housekeeping, throttle
    with time_machine.travel(utcnow(), tick=False) as clock:
        throttle.begin((LOGIN_ADDRESS, "address:x"))
        clock.shift(timedelta(seconds=throttle.MAX_WINDOW_SECONDS - 1))
        housekeeping.purge_auth_attempts()
        assert db.session.scalar(select(func.count(AuthAttempt.id))) == 1
        clock.shift(timedelta(seconds=2))
        housekeeping.purge_auth_attempts()
        assert db.session.scalar(select(func.count(AuthAttempt.id))) == 0


def test_code_requests_and_wrong_codes_per_address_at_their_boundary(app, client, demo, en):
    stranger = app.test_client()
    phones = ["+996700999801", "+996700999802", "+996700999803", "+996700999804"]
    for phone in phones[:recovery.RECOVER_ADDRESS.limit]:
        assert recover(stranger, phone=phone).status_code == 302
    refused = recover(stranger, phone=phones[recovery.RECOVER_ADDRESS.limit])
    assert refused.status_code == 429
    assert "Too many code requests from this network. No code was sent." in refused.get_data(as_text=True)
    # Wrong codes (for a phone without an account, answered like any other): CODE_ADDRESS a day.
    for _ in range(recovery.CODE_ADDRESS.limit):
        assert reset(stranger, "0000").status_code == 422
    refused = reset(stranger, "0000")
    assert refused.status_code == 429
    assert "Too many wrong codes from this network." in refused.get_data(as_text=True)
    # Another address is not affected.
    assert recover(client, address=OWNER_HOME).status_code == 302
