"""A failed try is kept although its request fails — and nothing the request had flushed before it
(mkassa/durable.py). Run with --db=postgresql as well: the fallback re-takes the row locks."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mkassa import durable
from mkassa.extensions import db
from mkassa.models import Device, Merchant, OneTimeCode, OtpFailure, User
from mkassa.services import devices, otp, recovery

PIN = "4826"


def _unrelated_change(demo) -> None:
    """Work a caller flushed before the failing service: it must not be committed with the try."""
    merchant = db.session.get(Merchant, demo.merchant.id)
    merchant.display_name = "Flushed, never committed"
    db.session.flush()


def _fresh(stmt):
    db.session.rollback()  # a new snapshot: only what was committed
    return db.session.scalar(stmt)


def test_a_wrong_code_after_unrelated_work_keeps_the_try_and_drops_the_work(app, demo):
    owner = db.session.get(User, demo.owner.id)
    recovery.send_code(owner)
    db.session.commit()
    name = demo.merchant.display_name
    _unrelated_change(demo)
    with pytest.raises(otp.WrongCode):
        otp.verify(owner, recovery.PURPOSE, recovery.OBJECT_KEY, "x")
    assert _fresh(select(OneTimeCode.attempts)) == 1
    assert _fresh(select(func.count(OtpFailure.id))) == 1
    assert _fresh(select(Merchant.display_name).where(Merchant.id == demo.merchant.id)) == name


def test_a_wrong_pin_after_unrelated_work_keeps_the_try_and_drops_the_work(app, demo):
    owner = db.session.get(User, demo.owner.id)
    device = devices.start(owner, PIN)
    devices.confirm(device, PIN)
    db.session.commit()
    name = demo.merchant.display_name
    _unrelated_change(demo)
    assert devices.unlock(device, "1357") is False
    assert _fresh(select(Device.failed_pins).where(Device.id == device.id)) == 1
    assert _fresh(select(Merchant.display_name).where(Merchant.id == demo.merchant.id)) == name


def test_with_nothing_else_pending_the_try_is_committed_in_place(app, demo):
    owner = db.session.get(User, demo.owner.id)
    device = devices.start(owner, PIN)
    devices.confirm(device, PIN)
    db.session.commit()
    assert durable.mark().clean  # so keep() commits the request's own transaction, lock held to the end
    assert devices.unlock(device, "1357") is False
    assert _fresh(select(Device.failed_pins).where(Device.id == device.id)) == 1


def test_the_mark_sees_pending_flushed_and_bulk_written_work(app, demo):
    db.session.commit()
    assert durable.mark().clean
    merchant = db.session.get(Merchant, demo.merchant.id)
    merchant.display_name = "pending"
    assert not durable.mark().clean
    db.session.flush()
    assert not durable.mark().clean
    db.session.rollback()
    assert durable.mark().clean
    db.session.execute(db.update(Merchant).where(Merchant.id == demo.merchant.id).values(display_name="bulk"))
    assert not durable.mark().clean
    db.session.commit()
    assert durable.mark().clean


def test_a_refused_webhook_after_unrelated_work_is_kept_without_the_payment_that_work_made(app, demo):
    """The event names a payment the rolled-back work had only just made: kept, naming none (no
    dangling reference), and the payment is gone with the rest of that work."""
    import json

    from mkassa.models import BankWebhookEvent, Payment
    from mkassa.services import accept, webhooks

    from .test_pay_qr import succeeded

    payment = accept.create_qr_payment(db.session.get(User, demo.owner.id), "10", app.extensions["mkassa.settings"])
    db.session.flush()
    public_id = payment.public_id
    event = succeeded(payment, amount=payment.amount + 1)  # the Bank says another amount: refused
    outcome = webhooks.ingest("msg_after_unrelated_work", json.dumps(event).encode())
    assert outcome.status == 422
    kept = _fresh(select(BankWebhookEvent).where(BankWebhookEvent.webhook_id == "msg_after_unrelated_work"))
    assert (kept.outcome, kept.event_type, kept.payment_id) == ("mismatch", "payment.succeeded", None)
    assert _fresh(select(Payment.id).where(Payment.public_id == public_id)) is None
