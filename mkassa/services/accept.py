"""Accepting a payment by QR (cards: services.card): create it, show its link, cancel it, confirm it from the Bank's word.

Every change of a payment's status is published to live screens after the commit; a screen then
re-reads the database, so only what the server has confirmed is ever shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import elqr, live, signals
from ..config import Settings
from ..extensions import db
from ..gateways import corebank
from ..models import Payment, User, utcnow
from ..models.payment import CURRENCY_KGS
from ..money import MoneyError
from ..pan import mask_optional, mask_pans
from ..formatting import money, read_amount
from . import Conflict, Invalid, jobs, payments, shifts

# Rows handled per beat of the periodic jobs, so one beat never holds the database long.
JOB_BATCH_SIZE = 100
# How often the periodic jobs run (seconds): overdue payments are asked about, sandbox ones settle.
RECONCILE_EVERY_SECONDS = 5
SETTLE_EVERY_SECONDS = 2


def create_qr_payment(user: User, amount_text: str, settings: Settings, now: datetime | None = None) -> Payment:
    """A pending dynamic-QR payment for the amount typed, on the user's point.

    A cashier's payment lands on the cashier's point; an owner's on the point he chose (M5.4).
    In shift mode it needs an open shift (shifts.ShiftRequired otherwise) and belongs to it (M5.5).
    """
    return new_payment(user, amount_text, settings, "qr", settings.payment_lifetime_seconds, now)


def new_payment(user: User, amount_text: str, settings: Settings, method: str, lifetime_seconds: int,
                now: datetime | None = None) -> Payment:
    """A pending payment of either method: the same amount and shift rules for QR and card."""
    shift = shifts.require_open_shift(user)
    try:
        amount = read_amount(amount_text, maximum=settings.max_payment_tyiyn)
    except MoneyError as exc:
        params = {name: money(tyiyn) for name, tyiyn in exc.params.items()}
        raise Invalid({"amount": _(str(exc), **params)}) from None
    now = now or utcnow()
    payment = Payment(merchant_id=user.merchant_id, point_id=user.point_id, cashier_id=user.id, method=method,
                      link_type="dynamic", amount=amount, currency=CURRENCY_KGS, status="pending",
                      created_at=now, expires_at=now + timedelta(seconds=lifetime_seconds),
                      shift_id=shift.id if shift else None)
    db.session.add(payment)
    db.session.flush()
    announce(payment)
    return payment


def payment_link(payment: Payment, settings: Settings) -> str:
    """The dynamic ELQR link of a payment (specs/elqr.md, "What MKASSA puts in a payment QR")."""
    merchant = payment.merchant
    return elqr.build(elqr.Elqr(
        type="dynamic", provider_id=settings.elqr_provider_id, service_code=settings.elqr_service_code,
        recipient_id=merchant.account_number, transaction_id=payment.public_id, amount_editable=False,
        recipient_editable=False, mcc=merchant.mcc, currency=payment.currency, amount=payment.amount,
        name=merchant.display_name), settings.elqr_base_url)


def cancel(payment: Payment) -> None:
    """The cashier gave up on a QR. Money that still arrives for it is credited and flagged."""
    if payment.status != "pending":
        raise Conflict(_("This payment is already finished."))
    payments.transition(payment, "cancelled")
    announce(payment)


@dataclass(frozen=True)
class Success:
    """The Bank's confirmation of a QR payment, from a webhook or a status query."""

    bank_txn_id: str
    amount: int
    currency: str
    payer_bank: str | None
    payer_name_masked: str | None
    paid_at: datetime


def confirm_success(payment: Payment, success: Success) -> bool:
    """Mark a payment paid and credit it: once. Returns False when this bank transaction was already applied.

    The caller has checked that amount and currency match. A payment cancelled, expired or failed
    is still credited and flagged: money received is never dropped.
    """
    if payment.status == "succeeded":
        return False
    payment.bank_txn_id = success.bank_txn_id
    # The Bank's free text is stored masked: a card number in it is never kept (mkassa.pan).
    payment.payer_bank, payment.payer_name_masked = mask_optional(success.payer_bank), mask_optional(
        success.payer_name_masked)
    mark_paid(payment, success.paid_at)
    return True


def mark_paid(payment: Payment, paid_at: datetime) -> None:
    """Succeeded and credited, with the owners told: the end of every payment the Bank confirmed."""
    payments.transition(payment, "succeeded", paid_at)
    payment.paid_at = paid_at
    db.session.flush()
    payments.credit(payment, at=paid_at)
    signals.payment_succeeded.send(payment)
    announce(payment)


def record_failure(payment: Payment, reason: str | None) -> None:
    payments.transition(payment, "failed")
    payment.failure_reason = mask_pans(reason or "")[:200] or None
    announce(payment)


def announce(payment: Payment) -> None:
    live.publish_after_commit(live.payment_channel(payment.public_id), payment.public_id)
    live.publish_after_commit(live.merchant_channel(payment.merchant_id), payment.public_id)


# ---------------------------------------------------------------------------------- reconciliation


def ask_bank(public_id: str) -> corebank.BankPayment | None:
    """The Bank's record of a payment. Called with no transaction open (see reconcile_overdue)."""
    return corebank.find_payment(public_id)


def apply_bank_answer(payment_id: int, found: corebank.BankPayment | None, now: datetime | None = None) -> Payment:
    """Apply what the Bank said of one payment, under its row lock; returns the payment.

    A payment the Bank paid is confirmed; one the Bank has nothing for expires once its lifetime is
    over (a later payment still lands, flagged). A payment finished meanwhile is left as it is.
    """
    now = now or utcnow()
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update()
                                .execution_options(populate_existing=True))
    if payment.status != "pending":
        return payment
    if found is not None and found.status == "succeeded":
        if found.amount == payment.amount and found.currency == payment.currency and found.bank_txn_id:
            confirm_success(payment, Success(found.bank_txn_id, found.amount, found.currency, found.payer_bank,
                                             found.payer_name_masked, found.paid_at or now))
    elif found is not None and found.status == "failed":
        record_failure(payment, found.reason)
    elif payment.expires_at is not None and payment.expires_at <= now:
        payments.transition(payment, "expired", now)
        announce(payment)
    return payment


@jobs.periodic("reconcile_payments", every_seconds=RECONCILE_EVERY_SECONDS)
def reconcile_overdue() -> int:
    """Pending payments past their lifetime: repaired from the Bank's records, or expired.

    The ids are read and the transaction ended; the Bank is asked about each with no transaction or
    lock open (a webhook for the same payment is never kept waiting on a slow Bank); each answer is
    applied under the row's lock and committed on its own. A Bank that does not answer fails the job,
    which runs again at its next interval; what was applied before stays applied.
    """
    now = utcnow()
    overdue = db.session.execute(
        select(Payment.id, Payment.public_id).where(Payment.status == "pending", Payment.method == "qr",
                                                    Payment.expires_at <= now)
        .order_by(Payment.expires_at).limit(JOB_BATCH_SIZE)).all()
    db.session.commit()
    for payment_id, public_id in overdue:
        found = corebank.find_payment(public_id)
        apply_bank_answer(payment_id, found, now)
        db.session.commit()
    return len(overdue)


@jobs.periodic("settle_sandbox_payments", every_seconds=SETTLE_EVERY_SECONDS)
def settle_sandbox() -> int:
    """Sandbox only: succeeded payments settle to "available" after SANDBOX_SETTLE_SECONDS.

    In production the Bank's settlement notice moves the money; this job stands in for it.
    """
    settings = current_app.extensions["mkassa.settings"]
    if not settings.sandbox:
        return 0
    now = utcnow()
    due = db.session.scalars(
        select(Payment).where(Payment.status == "succeeded", Payment.settled_at.is_(None),
                              Payment.paid_at <= now - timedelta(seconds=settings.sandbox_settle_seconds))
        .order_by(Payment.paid_at).limit(JOB_BATCH_SIZE).with_for_update(skip_locked=True)).all()
    for payment in due:
        payments.settle(payment, at=now)
        payment.settled_at = now
    return len(due)
