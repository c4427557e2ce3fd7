"""Payments as a state machine, and the ledger postings they cause.

pending → succeeded | failed | expired | cancelled. Money that the Bank confirms is always
credited, even to a payment already cancelled, expired or failed (it is then flagged for staff): money
received is never dropped.
"""
from __future__ import annotations

from datetime import datetime

from ..models import Payment, utcnow
from ..models.payment import PaymentStatus
from . import ledger

# from-state → to-states, declared with the statuses themselves (models.payment.PaymentStatus).
ALLOWED = PaymentStatus.transitions()


class IllegalTransition(Exception):
    def __init__(self, payment: Payment, target: str):
        super().__init__(f"payment {payment.public_id}: {payment.status} → {target} is not allowed")
        self.payment, self.target = payment, target


def transition(payment: Payment, target: str, now: datetime | None = None) -> None:
    if target not in ALLOWED.get(payment.status, frozenset()):
        raise IllegalTransition(payment, target)
    if target == "succeeded" and payment.status in ("expired", "cancelled", "failed"):
        payment.flagged = True
    payment.status = target
    payment.finished_at = now or utcnow()


def credit(payment: Payment, at: datetime | None = None) -> None:
    """Money received for a payment: in processing until it settles. Posted once per payment."""
    bank, processing = ledger.get_accounts(("bank_incoming", None), ("processing", payment.merchant_id),
                                           spread=payment.id)
    ledger.post(f"payment:{payment.public_id}", "payment", [(bank, -payment.amount), (processing, payment.amount)],
                merchant_id=payment.merchant_id, payment_id=payment.id, at=at)


def settle(payment: Payment, at: datetime | None = None) -> None:
    """In processing → available (the Bank's settlement). Posted once per payment."""
    processing, available = ledger.get_accounts(("processing", payment.merchant_id),
                                                 ("available", payment.merchant_id))
    ledger.post(f"settle:{payment.public_id}", "settlement",
                [(processing, -payment.amount), (available, payment.amount)],
                merchant_id=payment.merchant_id, payment_id=payment.id, at=at)
