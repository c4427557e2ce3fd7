"""Refunds of succeeded payments (issue #17): amount → SMS code → reserved → returned by the Bank.

Method-agnostic: a QR or a card payment is refunded the same way, by the Bank, by payment id.
Money moves only through the ledger, each step a transfer posted once by its code:
- confirmation reserves it, available → refund_pending ("refund:<id>:reserve"), the same guarded UPDATE
  under the balance ≥ 0 CHECK as a withdrawal's, so refunds and withdrawals racing for one balance
  can never together take more than is available;
- `refund.succeeded` settles it, refund_pending → bank_refunds ("refund:<id>:settle");
- `refund.failed` releases it, refund_pending → available ("refund:<id>:release").
The sum of a payment's refunds never exceeds what was paid: confirmation holds the payment's row lock
while it counts them (SQLite: the one writer), so two refunds of one payment are checked one by one.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from ..config import DEFAULT_LOCALE
from ..extensions import db
from ..formatting import local_dt, money, money_symbols, read_amount
from ..gateways import corebank
from ..models import OutboxMessage, Payment, Refund, SandboxBankRefund, User, utcnow
from ..models.ledger import REFUND_PENDING
from ..models.refund import BANK_REF_MAX, COUNTED, FINAL, IN_FLIGHT, REASON_MAX, RefundStatus
from ..money import MoneyError, format_amount
from ..pan import mask_pans
from ..timeutil import BISHKEK
from . import Conflict, Invalid, NotAllowed, jobs, ledger, otp, outbox

log = logging.getLogger(__name__)

OTP_PURPOSE = "refund"
# A payment can be refunded this long after it was paid; later, the merchant settles with the payer
# another way (the Bank's card and QR schemes keep disputes apart from refunds past a month).
REFUND_WINDOW = timedelta(days=30)
# A refund still in flight this long after confirmation: the Bank is asked about it.
OVERDUE_SECONDS = 10 * 60
JOB_BATCH_SIZE = 100
RECONCILE_EVERY_SECONDS = 60
SANDBOX_EVERY_SECONDS = 2

otp.register_purpose(OTP_PURPOSE, _l("MKASSA: code %(code)s confirms a refund of %(amount)s to the payer. "
                                     "Never tell it to anyone."))


class BankResultRefused(Exception):
    """The Bank's word cannot apply to any refund as it stands; `reason` (English) is for operators."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _BeyondPaid(Exception):
    pass


def _move(public_id: str, target: RefundStatus, **values: Any) -> bool:
    """One guarded UPDATE from a state allowed to reach `target`: of two racing moves exactly one wins."""
    return db.session.execute(
        update(Refund).where(Refund.public_id == public_id, Refund.status.in_(RefundStatus.sources(target)))
        .values(status=target, **values)).rowcount == 1


def object_key(refund: Refund) -> str:
    """What a code confirms: this refund and this amount, nothing else."""
    return f"refund:{refund.public_id}:{refund.amount}"


# ------------------------------------------------------------------------------------ reading


def refunds_of(payment: Payment) -> list[Refund]:
    """The payment's confirmed refunds (a request still waiting for its code is not one), oldest first."""
    return list(db.session.scalars(select(Refund).where(Refund.payment_id == payment.id,
                                                        Refund.status != RefundStatus.REQUESTED)
                                   .order_by(Refund.created_at, Refund.id)))


def _counted(payment_id: int) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_id == payment_id, Refund.status.in_(COUNTED))))


def refundable(payment: Payment) -> int:
    """What may still be refunded of the payment: paid, less refunds reserved or done."""
    return max(payment.amount - _counted(payment.id), 0)


def refund_state(payment: Payment, refunds: list[Refund]) -> str | None:
    """"refunded" when the Bank has returned all of it, "partly_refunded" when part, else None."""
    returned = sum(r.amount for r in refunds if r.status == RefundStatus.SUCCEEDED)
    if returned == 0:
        return None
    return "refunded" if returned >= payment.amount else "partly_refunded"


def refusal(user: User, payment: Payment, now: datetime | None = None) -> str | None:
    """Why this user may not refund this payment now (translated), or None when they may.

    The caller has already found the payment through `scoped(Payment)`: a cashier never reaches
    another cashier's payment (404), so "only their own" is the scope rule; this adds the rest.
    """
    now = now or utcnow()
    if payment.status != "succeeded" or payment.paid_at is None:
        return _("Only a paid payment can be refunded.")
    if user.is_cashier:
        if not payment.merchant.cashiers_may_refund:
            return _("Only the owner can refund payments. The owner can allow cashiers to refund in settings.")
        if payment.cashier_id != user.id:
            return _("A cashier can refund only their own payments.")
        if payment.paid_at.astimezone(BISHKEK).date() != now.astimezone(BISHKEK).date():
            return _("A cashier can refund only payments of the same day. Please ask the owner.")
    elif not user.is_owner:
        return _("Only the owner can refund payments.")
    if now - payment.paid_at > REFUND_WINDOW:
        return _("A payment can be refunded within %(days)d days of being paid. This one was paid on %(date)s.",
                 days=REFUND_WINDOW.days, date=local_dt(payment.paid_at, "short"))
    return None


def _require_allowed(user: User, payment: Payment, now: datetime | None) -> None:
    reason = refusal(user, payment, now)
    if reason:
        raise NotAllowed(reason)


def _beyond_paid(payment: Payment) -> Invalid:
    left = refundable(payment)
    if left == 0:
        return Invalid({"amount": _("This payment has already been refunded in full.")})
    return Invalid({"amount": _("This is more than is left to refund: at most %(amount)s of this payment.",
                                amount=money(left))})


def _not_enough(merchant_id: int) -> Invalid:
    available = ledger.balances(merchant_id)["available"]
    if available == 0:
        return Invalid({"amount": _("There is no money available for a refund yet. Money received today "
                                    "becomes available after the Bank settles it.")})
    return Invalid({"amount": _("Not enough money available: you can refund at most %(available)s now.",
                                available=money(available))})


# ------------------------------------------------------------------------------------ use cases


def request_refund(user: User, payment: Payment, amount_text: str, now: datetime | None = None) -> Refund:
    """A refund waiting for its SMS code; the code goes to the phone of whoever asks."""
    _require_allowed(user, payment, now)
    try:
        amount = read_amount(amount_text)
    except MoneyError as exc:
        raise Invalid({"amount": _(str(exc), **{k: money(v) for k, v in exc.params.items()})}) from None
    # Early and friendly only: confirmation, under the payment's lock and the ledger's CHECK, decides.
    if amount > refundable(payment):
        raise _beyond_paid(payment)
    if amount > ledger.balances(payment.merchant_id)["available"]:
        raise _not_enough(payment.merchant_id)
    refund = Refund(merchant_id=payment.merchant_id, payment_id=payment.id, requested_by_id=user.id,
                    amount=amount, status=RefundStatus.REQUESTED, created_at=now or utcnow())
    db.session.add(refund)
    db.session.flush()
    _send_code(user, refund, now)
    return refund


def resend_code(user: User, refund: Refund, now: datetime | None = None) -> None:
    if refund.status != RefundStatus.REQUESTED:
        raise Conflict(_("This refund is already confirmed."))
    _send_code(user, refund, now)


def _send_code(user: User, refund: Refund, now: datetime | None) -> None:
    # The SMS is written in the reader's language, whatever language this screen is in.
    otp.issue(user, OTP_PURPOSE, object_key(refund), now=now,
              amount=format_amount(refund.amount, money_symbols(user.locale or DEFAULT_LOCALE)))


def confirm(user: User, refund: Refund, code: str, now: datetime | None = None) -> Refund:
    """Check the code, then reserve the money and queue the Bank's refund; once.

    A refund confirmed before (a replayed request, a double tap) is returned as it is. A wrong code
    raises otp.WrongCode (its try is already committed); more than is left of the payment or more
    than is available raises Invalid and changes nothing.
    """
    if refund.status != RefundStatus.REQUESTED:
        return refund
    _require_allowed(user, refund.payment, now)
    try:
        otp.verify(user, OTP_PURPOSE, object_key(refund), code, now=now)
    except otp.WrongCode:
        db.session.refresh(refund)
        if refund.status != RefundStatus.REQUESTED:
            return refund  # the same code confirmed it a moment ago
        raise
    now = now or utcnow()
    # The payment's row lock: the refunds of one payment are counted one confirmation at a time.
    payment = db.session.scalar(select(Payment).where(Payment.id == refund.payment_id).with_for_update()
                                .execution_options(populate_existing=True))
    try:
        # One savepoint: the status moves, the payment's share is checked and the money reserved, or nothing.
        with db.session.begin_nested():
            if not _move(refund.public_id, RefundStatus.CONFIRMED, confirmed_at=now):
                db.session.refresh(refund)  # a concurrent confirmation of the same refund won
                return refund
            if _counted(payment.id) > payment.amount:
                raise _BeyondPaid()
            ledger.post(f"refund:{refund.public_id}:reserve", "refund_reserve", [
                (ledger.get_account("available", refund.merchant_id), -refund.amount),
                (ledger.get_account(REFUND_PENDING, refund.merchant_id), refund.amount),
            ], merchant_id=refund.merchant_id, payment_id=payment.id, at=now)
    except _BeyondPaid:
        db.session.refresh(refund)
        raise _beyond_paid(payment) from None
    except ledger.InsufficientFunds:
        # Spent meanwhile (a withdrawal or another refund was confirmed first): nothing of this one is kept.
        db.session.refresh(refund)
        raise _not_enough(refund.merchant_id) from None
    db.session.refresh(refund)
    outbox.enqueue("refund.request", {"refund_id": refund.public_id},
                   dedupe_key=f"refund:{refund.public_id}:request")
    return refund


@outbox.handler("refund.request")
def _request_refund(payload: dict[str, Any], msg: OutboxMessage) -> None:
    """Deliver the refund to the Bank (retried by the outbox until it is taken)."""
    refund = db.session.scalar(select(Refund).where(Refund.public_id == payload["refund_id"]))
    if refund.status != RefundStatus.CONFIRMED:
        return  # the Bank took it before, or has already answered
    public_id, payment_id, amount = refund.public_id, refund.payment.public_id, refund.amount
    # No transaction stays open across the network call (on SQLite it would be the write lock).
    db.session.commit()
    corebank.request_refund(public_id, payment_id, amount)
    _move(public_id, RefundStatus.PENDING)


def apply_bank_result(refund_id: str, succeeded: bool, bank_ref: str | None, reason: str | None, *,
                      amount: int | None = None, payment_id: str | None = None,
                      now: datetime | None = None) -> str:
    """The Bank's final word on a refund (webhook, reconciliation or the sandbox), applied once.

    Returns "processed", or "duplicate" when it was applied before; raises BankResultRefused for an
    unknown refund, one whose amount or payment differs, one never confirmed, or one already
    finished the other way.
    """
    refund = db.session.scalar(select(Refund).where(Refund.public_id == refund_id)
                               .with_for_update().execution_options(populate_existing=True))
    if refund is None:
        raise BankResultRefused(f"unknown refund_id {refund_id}")
    if amount is not None and amount != refund.amount:
        raise BankResultRefused(f"amount {amount} differs from the refund's {refund.amount}")
    if payment_id is not None and payment_id != refund.payment.public_id:
        raise BankResultRefused(f"payment_id {payment_id} differs from the refund's payment")
    target = RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED
    if refund.status == target:
        return "duplicate"
    if refund.status in FINAL:
        raise BankResultRefused(f"refund is already {refund.status}")
    if not RefundStatus(refund.status).can_become(target):
        raise BankResultRefused("refund was never confirmed: no money is reserved for it")
    now = now or utcnow()
    pending = ledger.get_account(REFUND_PENDING, refund.merchant_id)
    if succeeded:
        ledger.post(f"refund:{refund.public_id}:settle", "refund", [
            (pending, -refund.amount), (ledger.get_account("bank_refunds", spread=refund.id), refund.amount),
        ], merchant_id=refund.merchant_id, payment_id=refund.payment_id, at=now)
    else:
        ledger.post(f"refund:{refund.public_id}:release", "refund_release", [
            (pending, -refund.amount), (ledger.get_account("available", refund.merchant_id), refund.amount),
        ], merchant_id=refund.merchant_id, payment_id=refund.payment_id, at=now)
        refund.failure_reason = mask_pans(reason or "")[:REASON_MAX] or None  # never a card number kept
    refund.status, refund.finished_at = target, now
    refund.bank_ref = mask_pans(bank_ref or "")[:BANK_REF_MAX] or refund.bank_ref
    db.session.flush()
    return "processed"


# ---------------------------------------------------------------------------------- reconciliation


@jobs.periodic("reconcile_refunds", every_seconds=RECONCILE_EVERY_SECONDS)
def reconcile_overdue_refunds(now: datetime | None = None) -> int:
    """Refunds in flight for more than OVERDUE_SECONDS: the Bank is asked about each with no
    transaction open, and a final answer is applied under the refund's row lock."""
    now = now or utcnow()
    overdue = db.session.scalars(
        select(Refund.public_id).where(Refund.status.in_(IN_FLIGHT),
                                       Refund.confirmed_at <= now - timedelta(seconds=OVERDUE_SECONDS))
        .order_by(Refund.confirmed_at).limit(JOB_BATCH_SIZE)).all()
    db.session.commit()
    for public_id in overdue:
        found = corebank.find_refund(public_id)
        if found is None:
            # Never received by the Bank: a request the outbox gave up on (the Bank down for all of
            # MAX_ATTEMPTS) goes again, idempotent by refund id; the money stays reserved meanwhile.
            outbox.revive(f"refund:{public_id}:request")
            db.session.commit()
            continue
        if found.status not in FINAL:
            continue
        try:
            apply_bank_result(public_id, found.status == "succeeded", found.bank_ref, found.reason, now=now)
        except BankResultRefused as exc:
            db.session.rollback()
            log.warning("refund %s: the Bank's answer was not applied: %s", public_id, exc.reason)
        db.session.commit()
    return len(overdue)


@jobs.periodic("complete_sandbox_refunds", every_seconds=SANDBOX_EVERY_SECONDS)
def complete_sandbox_refunds(now: datetime | None = None) -> int:
    """Sandbox only: the sandbox bank finishes each refund `sandbox_refund_seconds` after it was asked,
    through `apply_bank_result`, the function a `refund.*` webhook calls."""
    if not current_app.extensions["mkassa.settings"].sandbox:
        return 0
    now = now or utcnow()
    due = db.session.scalars(
        select(SandboxBankRefund).where(SandboxBankRefund.status == "processing", SandboxBankRefund.due_at <= now)
        .order_by(SandboxBankRefund.due_at).limit(JOB_BATCH_SIZE).with_for_update(skip_locked=True)).all()
    for row in due:
        row.status, row.completed_at = ("failed" if row.reason else "succeeded"), now
        try:
            with db.session.begin_nested():
                apply_bank_result(row.refund_id, row.status == "succeeded", row.bank_ref, row.reason,
                                  amount=row.amount, now=now)
        except BankResultRefused as exc:
            log.warning("sandbox refund %s not applied: %s", row.refund_id, exc.reason)
    return len(due)
