"""The sandbox side of `gateways.corebank`: payments its payer page made, payouts and refunds it was asked for."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models import SandboxBankPayment, SandboxBankPayout, SandboxBankRefund, SandboxCardPayment, utcnow
from .. import corebank

# The sandbox fails every payout and refund whose amount ends in this many tyiyn (e.g. 100,13 som), so
# that a tester can watch a failed withdrawal or refund return its money.
FAIL_TYIYN = 13
FAIL_REASON = "Sandbox: amounts ending in ,13 fail"


def find_payment(transaction_id: str) -> corebank.BankPayment | None:
    row = db.session.scalar(select(SandboxBankPayment).where(SandboxBankPayment.transaction_id == transaction_id)
                            .order_by(SandboxBankPayment.id).limit(1))
    if row is None:
        return None
    return corebank.BankPayment("succeeded", row.bank_txn_id, transaction_id, row.amount, row.currency,
                                row.payer_bank, row.payer_name_masked, row.paid_at)


def find_card_payment(payment_id: str) -> corebank.BankCardPayment | None:
    """What the MPOS simulator answered for the payment (approve / decline, "no answer" included)."""
    row = db.session.scalar(select(SandboxCardPayment).where(SandboxCardPayment.payment_id == payment_id))
    if row is None:
        return None
    return corebank.BankCardPayment(row.result, payment_id, row.amount, row.currency, row.rrn, row.auth_code,
                                    row.card_mask, row.reason)


def request_payout(settings, payout_id: str, mbank_phone: str, amount: int) -> None:
    """The sandbox bank takes the order and completes it after `sandbox_payout_seconds`
    (services.payouts.complete_sandbox_payouts plays the Bank's notification)."""
    now = utcnow()
    failing = amount % 100 == FAIL_TYIYN
    row = SandboxBankPayout(payout_id=payout_id, mbank_phone=mbank_phone, amount=amount,
                            bank_ref=f"SBX-{payout_id}", reason=FAIL_REASON if failing else None,
                            requested_at=now, due_at=now + timedelta(seconds=settings.sandbox_payout_seconds))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        pass  # asked before: the same payout, not a second one


def find_payout(payout_id: str) -> corebank.BankPayout | None:
    row = db.session.scalar(select(SandboxBankPayout).where(SandboxBankPayout.payout_id == payout_id))
    return None if row is None else corebank.BankPayout(row.status, row.bank_ref, row.reason)


def request_refund(settings, refund_id: str, payment_id: str, amount: int) -> None:
    """The sandbox bank takes the refund and completes it after `sandbox_refund_seconds`
    (services.refunds.complete_sandbox_refunds plays the Bank's notification)."""
    now = utcnow()
    failing = amount % 100 == FAIL_TYIYN
    row = SandboxBankRefund(refund_id=refund_id, payment_id=payment_id, amount=amount,
                            bank_ref=f"SBX-R-{refund_id}", reason=FAIL_REASON if failing else None,
                            requested_at=now, due_at=now + timedelta(seconds=settings.sandbox_refund_seconds))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        pass  # asked before: the same refund, not a second one


def find_refund(refund_id: str) -> corebank.BankRefund | None:
    row = db.session.scalar(select(SandboxBankRefund).where(SandboxBankRefund.refund_id == refund_id))
    return None if row is None else corebank.BankRefund(row.status, row.bank_ref, row.reason)
