"""Guesses sent all at once get no more tries than guesses sent one by one (#12.2).

Each request runs in its own thread, test client, app context and database transaction, as
parallel requests to the server would; run with --db=postgresql for real row locks.
"""
from __future__ import annotations

import re
import threading
import types

import pytest
from sqlalchemy import func, select, update

from mkassa.extensions import db
from mkassa.models import Device, OneTimeCode, OtpFailure, Payout, User
from mkassa.services import ServiceError, devices, otp, payouts, recovery

PIN = "4826"
WRONG = "1357"
BURST = 40


@pytest.fixture
def device_client(app, client, auth, demo):
    """A phone with quick access set up for the demo owner, whose sign-in session has ended."""
    auth.login("demo")
    token = auth.csrf("/quick-access")
    client.post("/quick-access", data={"pin": PIN, "csrf_token": token})
    client.post("/quick-access/repeat", data={"pin": PIN, "csrf_token": token})
    auth.logout()
    return client.get_cookie(devices.DEVICE_COOKIE).value


def _lock_clients(app, cookie: str, n: int):
    """n browsers holding the device cookie, each on the lock screen with its own CSRF token."""
    clients = []
    for _ in range(n):
        c = app.test_client()
        c.set_cookie(devices.DEVICE_COOKIE, cookie, domain="localhost")
        html = c.get("/lock").get_data(as_text=True)
        clients.append((c, re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)))
    return clients


def _burst(app, cookie, pins, monkeypatch):
    """POST every PIN to /lock at the same moment; returns (responses, PINs evaluated in order)."""
    evaluated: list[str] = []
    guard = threading.Lock()
    real = devices.verify_password

    def counting(stored, pin):
        with guard:
            evaluated.append(pin)
        return real(stored, pin)
    monkeypatch.setattr(devices, "verify_password", counting)
    clients = _lock_clients(app, cookie, len(pins))
    barrier = threading.Barrier(len(pins))
    responses: list = [None] * len(pins)

    def send(i):
        c, token = clients[i]
        barrier.wait()
        responses[i] = c.post("/lock", data={"pin": pins[i], "csrf_token": token})
    db.session.commit()
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(pins))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses, evaluated


def test_forty_wrong_pins_at_once_evaluate_exactly_five(app, device_client, monkeypatch):
    responses, evaluated = _burst(app, device_client, [WRONG] * BURST, monkeypatch)
    assert len(evaluated) == devices.MAX_WRONG_PINS
    # A wrong PIN is answered "n tries left", or "switched off" once a parallel try revoked it.
    assert all(r.status_code == 422 or r.headers["Location"] == "/login" for r in responses)
    assert sum(r.status_code == 422 for r in responses) <= devices.MAX_WRONG_PINS - 1
    db.session.commit()  # a fresh snapshot: what the threads committed
    device = db.session.scalar(select(Device).where(Device.activated_at.is_not(None)))
    assert device.failed_pins == devices.MAX_WRONG_PINS and device.revoked_at is not None


def test_the_right_pin_inside_a_burst_never_signs_in_after_the_limit(app, device_client, monkeypatch):
    pins = [WRONG] * (BURST - 1)
    pins.insert(BURST // 2, PIN)
    responses, evaluated = _burst(app, device_client, pins, monkeypatch)
    signed_in = [r for r in responses if r.status_code == 302 and r.headers["Location"] == "/"]
    if PIN in evaluated:
        # Checked in its turn, within the limit: the wrong PINs before it were fewer than the limit.
        assert evaluated.index(PIN) < devices.MAX_WRONG_PINS and len(signed_in) == 1
    else:
        assert signed_in == [] and len(evaluated) == devices.MAX_WRONG_PINS
    # At the limit a right PIN is not even checked (here without the revocation, the counter alone).
    db.session.execute(update(Device).where(Device.activated_at.is_not(None))
                       .values(failed_pins=devices.MAX_WRONG_PINS, revoked_at=None))
    responses, evaluated = _burst(app, device_client, [PIN] * 5, monkeypatch)
    assert evaluated == [] and all(r.headers["Location"] == "/login" for r in responses)


def _parallel(app, fn, n):
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i):
        barrier.wait()
        with app.app_context():
            try:
                fn(i)
                db.session.commit()
                outcomes.append("ok")
            except ServiceError as exc:
                db.session.rollback()
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_forty_wrong_codes_at_once_get_the_tries_of_one_code(app, demo):
    owner = db.session.get(User, demo.owner.id)
    recovery.send_code(owner)
    db.session.commit()
    user_id = owner.id
    outcomes = _parallel(app, lambda i: otp.verify(db.session.get(User, user_id), recovery.PURPOSE,
                                                    recovery.OBJECT_KEY, "x"), BURST)
    assert outcomes == ["WrongCode"] * BURST
    db.session.commit()  # a fresh snapshot: what the threads committed
    assert db.session.scalar(select(OneTimeCode.attempts)) == otp.MAX_TRIES
    # Only evaluated tries count towards the 24-hour lock.
    assert db.session.scalar(select(func.count(OtpFailure.id))) == otp.MAX_TRIES


def test_a_right_withdrawal_code_sent_twice_at_once_is_not_a_wrong_try(app, demo, monkeypatch):
    from datetime import date
    from mkassa.models import Merchant, Payment
    from mkassa.services import ledger, payments
    monkeypatch.setattr(otp, "secrets", types.SimpleNamespace(randbelow=lambda _n: 1234))
    merchant = Merchant(legal_name="L", display_name="D", inn="01234567890123", mcc="5411", account_number="1",
                        bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1), is_bank_client=True,
                        mbank_phone="+996555000111")
    db.session.add(merchant)
    db.session.flush()
    user = User(merchant_id=merchant.id, role="owner", login="twice", name="T", phone="+996555000111",
                password_hash="not-used")
    db.session.add(user)
    ledger.open_merchant_accounts(merchant.id)
    payment = Payment(merchant_id=merchant.id, method="qr", amount=50_000, status="succeeded")
    db.session.add(payment)
    db.session.flush()
    payments.credit(payment)
    payments.settle(payment)
    payout_id = payouts.request_withdrawal(user, "100").id
    db.session.commit()
    user_id = user.id
    outcomes = _parallel(app, lambda i: payouts.confirm(db.session.get(User, user_id),
                                                        db.session.get(Payout, payout_id), "1234"), 2)
    assert outcomes == ["ok", "ok"]
    db.session.commit()  # a fresh snapshot: what the threads committed
    assert db.session.get(Payout, payout_id).status == "confirmed"
    assert db.session.scalar(select(func.count(OtpFailure.id))) == 0
