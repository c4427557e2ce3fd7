"""Withdrawals to the merchant's MBANK wallet (M7): amount → SMS code → reserved → paid by the Bank.

Money moves only through the ledger, each step a transfer posted once by its code:
- confirmation reserves it, available → payout_pending ("payout:<id>:reserve"). The ledger's guarded
  UPDATE under the CHECK constraint decides, so concurrent confirmations can never together take
  more than is available (no balance is read and written back in Python);
- `payout.succeeded` pays it, payout_pending → bank_payouts ("payout:<id>:paid");
- `payout.failed` voids it, payout_pending → available ("payout:<id>:void"): the money is back.
The request to the Bank leaves through the outbox after the commit, never from inside the transaction.
A payout still in flight OVERDUE_SECONDS after confirmation is flagged and the Bank is asked about it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select, update

from ..config import DEFAULT_LOCALE
from ..extensions import db
from ..gateways import corebank
from ..models import Merchant, OutboxMessage, Payout, SandboxBankPayout, User, utcnow
from ..models.payout import BANK_REF_MAX, FINAL, IN_FLIGHT, REASON_MAX, PayoutStatus
from ..money import MoneyError, format_amount
from ..pan import mask_pans
from ..formatting import money, money_symbols, read_amount
from . import Conflict, Invalid, NotAllowed, jobs, ledger, otp, outbox

log = logging.getLogger(__name__)

OTP_PURPOSE = "payout"
# M7.4: the manual promises a withdrawal within ten minutes; later than that, operators must look.
OVERDUE_SECONDS = 10 * 60
# An overdue payout is asked about again at most this often, so the Bank is not polled every beat.
RECHECK_SECONDS = 60
JOB_BATCH_SIZE = 100
# How often the periodic jobs run (seconds).
RECONCILE_EVERY_SECONDS = 15
SANDBOX_EVERY_SECONDS = 2
HISTORY_SHOWN = 50

otp.register_purpose(OTP_PURPOSE, _l("MKASSA: code %(code)s confirms the withdrawal of %(amount)s "
                                     "to MBANK %(phone)s. Never tell it to anyone."))


class BankResultRefused(Exception):
    """The Bank's word cannot apply to any payout as it stands; `reason` (English) is for operators."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unavailable_reason(merchant: Merchant) -> str | None:
    """Why this merchant cannot withdraw (M7.1), or None when he can."""
    if not merchant.is_bank_client:
        return _("Withdrawal to MBANK is only for clients of the Bank. To use it, open an account "
                 "with the Bank, or call the Bank to link the one you have.")
    if not merchant.mbank_phone:
        return _("No MBANK number is linked to your account yet. Please call the Bank to link one.")
    return None


def _move(public_id: str, target: PayoutStatus, **values: Any) -> bool:
    """Move a payout to `target` only from a state allowed to reach it (PayoutStatus.TRANSITIONS).

    One guarded UPDATE, so of two racing moves exactly one wins, on either database; False when the
    payout was not in such a state (moved meanwhile, or never could).
    """
    return db.session.execute(
        update(Payout).where(Payout.public_id == public_id, Payout.status.in_(PayoutStatus.sources(target)))
        .values(status=target, **values)).rowcount == 1


def object_key(payout: Payout) -> str:
    """What a code confirms: this payout and this amount, nothing else."""
    return f"payout:{payout.public_id}:{payout.amount}"


def history(stmt: Select) -> list[Payout]:
    """Withdrawals that were confirmed (a request still waiting for its code is not one yet), newest first."""
    return list(db.session.scalars(stmt.where(Payout.status != PayoutStatus.REQUESTED)
                                   .order_by(Payout.created_at.desc(), Payout.id.desc()).limit(HISTORY_SHOWN)))


def request_withdrawal(user: User, amount_text: str, now: datetime | None = None) -> Payout:
    """A withdrawal waiting for its SMS code; the code goes to the owner's phone."""
    merchant = user.merchant
    reason = unavailable_reason(merchant)
    if reason:
        raise NotAllowed(reason)
    try:
        amount = read_amount(amount_text)
    except MoneyError as exc:
        raise Invalid({"amount": _(str(exc), **{k: money(v) for k, v in exc.params.items()})}) from None
    # Early and friendly only: the reservation at confirmation is what decides.
    _require_available(merchant.id, amount)
    payout = Payout(merchant_id=merchant.id, requested_by_id=user.id, amount=amount,
                    mbank_phone=merchant.mbank_phone, status=PayoutStatus.REQUESTED, created_at=now or utcnow())
    db.session.add(payout)
    db.session.flush()
    _send_code(user, payout, now)
    return payout


def resend_code(user: User, payout: Payout, now: datetime | None = None) -> None:
    if payout.status != PayoutStatus.REQUESTED:
        raise Conflict(_("This withdrawal is already confirmed."))
    _send_code(user, payout, now)


def _send_code(user: User, payout: Payout, now: datetime | None) -> None:
    # The SMS is written in the owner's language, whatever language this screen is in.
    otp.issue(user, OTP_PURPOSE, object_key(payout), now=now,
              amount=format_amount(payout.amount, money_symbols(user.locale or DEFAULT_LOCALE)),
              phone=payout.mbank_phone)


def _require_available(merchant_id: int, amount: int) -> None:
    if amount > ledger.balances(merchant_id)["available"]:
        raise _not_enough(merchant_id)


def _not_enough(merchant_id: int) -> Invalid:
    available = ledger.balances(merchant_id)["available"]
    if available == 0:
        return Invalid({"amount": _("There is no money available to withdraw yet.")})
    return Invalid({"amount": _("Not enough money available: you can withdraw at most %(available)s.",
                                available=money(available))})


def confirm(user: User, payout: Payout, code: str, now: datetime | None = None) -> Payout:
    """Check the code, reserve the money and queue the Bank's payout; once.

    A payout confirmed before (a replayed request) is returned as it is. A wrong code raises
    otp.WrongCode (its try is already committed); too little money raises Invalid and changes nothing.
    """
    if payout.status != PayoutStatus.REQUESTED:
        return payout
    reason = unavailable_reason(payout.merchant)
    if reason:
        raise NotAllowed(reason)
    try:
        otp.verify(user, OTP_PURPOSE, object_key(payout), code, now=now)
    except otp.WrongCode:
        db.session.refresh(payout)
        if payout.status != PayoutStatus.REQUESTED:
            return payout  # the same code confirmed it a moment ago (a double tap): the same answer
        raise
    now = now or utcnow()
    try:
        # One savepoint: the status moves and the money is reserved together, or neither.
        with db.session.begin_nested():
            if not _move(payout.public_id, PayoutStatus.CONFIRMED, confirmed_at=now):
                # a concurrent confirmation of the same payout won
                db.session.refresh(payout)
                return payout
            ledger.post(f"payout:{payout.public_id}:reserve", "payout_reserve", [
                (ledger.get_account("available", payout.merchant_id), -payout.amount),
                (ledger.get_account("payout_pending", payout.merchant_id), payout.amount),
            ], merchant_id=payout.merchant_id, at=now)
    except ledger.InsufficientFunds:
        # Spent meanwhile (another withdrawal was confirmed first): nothing of this one is kept.
        db.session.refresh(payout)
        raise _not_enough(payout.merchant_id) from None
    outbox.enqueue("payout.request", {"payout_id": payout.public_id},
                   dedupe_key=f"payout:{payout.public_id}:request")
    return payout


@outbox.handler("payout.request")
def _request_payout(payload: dict[str, Any], msg: OutboxMessage) -> None:
    """Deliver the payout order to the Bank (retried by the outbox until it is taken)."""
    payout = db.session.scalar(select(Payout).where(Payout.public_id == payload["payout_id"]))
    if payout.status != PayoutStatus.CONFIRMED:
        return  # the Bank took it before, or has already answered
    public_id, phone, amount = payout.public_id, payout.mbank_phone, payout.amount
    # No transaction stays open across the network call (on SQLite it would be the write lock).
    db.session.commit()
    corebank.request_payout(public_id, phone, amount)
    # The Bank took it; if its answer was applied meanwhile, the payout is final and stays so.
    _move(public_id, PayoutStatus.PENDING)


def apply_bank_result(payout_id: str, succeeded: bool, bank_ref: str | None, reason: str | None,
                      now: datetime | None = None) -> str:
    """The Bank's final word on a payout (webhook, reconciliation or the sandbox), applied once.

    Returns "processed", or "duplicate" when it was applied before; raises BankResultRefused for an
    unknown payout, one never confirmed, or one the Bank already finished the other way.
    """
    payout = db.session.scalar(select(Payout).where(Payout.public_id == payout_id)
                               .with_for_update().execution_options(populate_existing=True))
    if payout is None:
        raise BankResultRefused(f"unknown payout_id {payout_id}")
    target = PayoutStatus.SUCCEEDED if succeeded else PayoutStatus.FAILED
    if payout.status == target:
        return "duplicate"
    if payout.status in FINAL:
        raise BankResultRefused(f"payout is already {payout.status}")
    # The row lock above guards this transition: only an order in flight can get the Bank's answer.
    if not PayoutStatus(payout.status).can_become(target):
        raise BankResultRefused("payout was never confirmed: no money is reserved for it")
    now = now or utcnow()
    pending = ledger.get_account("payout_pending", payout.merchant_id)
    if succeeded:
        ledger.post(f"payout:{payout.public_id}:paid", "payout", [
            (pending, -payout.amount), (ledger.get_account("bank_payouts", spread=payout.id), payout.amount),
        ], merchant_id=payout.merchant_id, at=now)
    else:
        ledger.post(f"payout:{payout.public_id}:void", "payout_void", [
            (pending, -payout.amount), (ledger.get_account("available", payout.merchant_id), payout.amount),
        ], merchant_id=payout.merchant_id, at=now)
        payout.failure_reason = mask_pans(reason or "")[:REASON_MAX] or None  # never a card number kept
    payout.status, payout.finished_at = target, now
    payout.bank_ref = mask_pans(bank_ref or "")[:BANK_REF_MAX] or payout.bank_ref
    db.session.flush()
    return "processed"


# ---------------------------------------------------------------------------------- reconciliation


@jobs.periodic("reconcile_payouts", every_seconds=RECONCILE_EVERY_SECONDS)
def reconcile_overdue_payouts(now: datetime | None = None) -> int:
    """Payouts in flight for more than OVERDUE_SECONDS: flagged for operators, repaired from the Bank's records.

    They are flagged (and marked checked) first, so operators see them even while the Bank is down;
    then the Bank is asked about each with no transaction or lock open, and a final answer is applied
    under the payout's row lock (apply_bank_result), one payout per transaction.
    """
    now = now or utcnow()
    overdue = db.session.scalars(
        select(Payout.public_id).where(Payout.status.in_(IN_FLIGHT),
                                       Payout.confirmed_at <= now - timedelta(seconds=OVERDUE_SECONDS),
                                       or_(Payout.checked_at.is_(None),
                                           Payout.checked_at <= now - timedelta(seconds=RECHECK_SECONDS)))
        .order_by(Payout.confirmed_at).limit(JOB_BATCH_SIZE)).all()
    if overdue:
        db.session.execute(update(Payout).where(Payout.public_id.in_(overdue), Payout.status.in_(IN_FLIGHT))
                           .values(flagged_overdue=True, checked_at=now))
    db.session.commit()
    for public_id in overdue:
        found = corebank.find_payout(public_id)
        if found is None:
            # Never received by the Bank: a request the outbox gave up on (the Bank down for all of
            # MAX_ATTEMPTS) goes again, idempotent by payout id; the money stays reserved meanwhile.
            outbox.revive(f"payout:{public_id}:request")
            db.session.commit()
            continue
        if found.status not in FINAL:
            continue
        try:
            apply_bank_result(public_id, found.status == "succeeded", found.bank_ref, found.reason, now)
        except BankResultRefused as exc:
            db.session.rollback()
            log.warning("payout %s: the Bank's answer was not applied: %s", public_id, exc.reason)
        db.session.commit()
    return len(overdue)


@jobs.periodic("complete_sandbox_payouts", every_seconds=SANDBOX_EVERY_SECONDS)
def complete_sandbox_payouts(now: datetime | None = None) -> int:
    """Sandbox only: the sandbox bank finishes each payout `sandbox_payout_seconds` after it was asked.

    It applies its result through `apply_bank_result`, the function a `payout.*` webhook calls, in
    the same transaction as its own record; the webhook path itself is covered by the webhook tests.
    """
    if not current_app.extensions["mkassa.settings"].sandbox:
        return 0
    now = now or utcnow()
    due = db.session.scalars(
        select(SandboxBankPayout).where(SandboxBankPayout.status == "processing", SandboxBankPayout.due_at <= now)
        .order_by(SandboxBankPayout.due_at).limit(JOB_BATCH_SIZE).with_for_update(skip_locked=True)).all()
    for row in due:
        row.status, row.completed_at = ("failed" if row.reason else "succeeded"), now
        try:
            with db.session.begin_nested():
                apply_bank_result(row.payout_id, row.status == "succeeded", row.bank_ref, row.reason, now)
        except BankResultRefused as exc:
            log.warning("sandbox payout %s not applied: %s", row.payout_id, exc.reason)
    return len(due)
