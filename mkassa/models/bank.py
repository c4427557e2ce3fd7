"""What the Bank told MKASSA (webhook events) and, in the sandbox, what the sandbox bank paid."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..money import MAX_AMOUNT
from .base import BigId, UTCDateTime, utcnow

WEBHOOK_ID_MAX = 128
# processed: acted on; duplicate: already known (by webhook id or business key), nothing changed;
# mismatch: refused with 422 and kept for the bank console.
WEBHOOK_OUTCOMES = ("processed", "duplicate", "mismatch")


class BankWebhookEvent(db.Model):
    """Every signed notification received, once per webhook id, with what became of it."""

    __tablename__ = "bank_webhook_event"
    __table_args__ = (Index("ix_bank_webhook_event_outcome_received", "outcome", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Unique: a redelivery of the same event finds its row and changes nothing.
    webhook_id: Mapped[str] = mapped_column(String(WEBHOOK_ID_MAX), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(64))
    bank_txn_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The amount the event carries (tyiyn), kept for the console: a refused second payment of a paid
    # QR is money a payer lost, found again by this, the bank transaction and the payment.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    # For operators, in English: why a mismatch was refused.
    reason: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxBankPayment(db.Model):
    """A payment the sandbox bank made from its payer page: what `find_payment` answers in the sandbox."""

    __tablename__ = "sandbox_bank_payment"
    __table_args__ = (CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_txn_id: Mapped[str] = mapped_column(String(64), unique=True)
    transaction_id: Mapped[str | None] = mapped_column(String(32), index=True)
    link_type: Mapped[str] = mapped_column(String(8))
    recipient_id: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payer_bank: Mapped[str] = mapped_column(String(64))
    payer_name_masked: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The MPOS simulator's answers: what the sandbox bank says of a card payment (`find_card_payment`).
SANDBOX_CARD_RESULTS = ("approved", "declined")


class SandboxCardPayment(db.Model):
    """A card result the sandbox bank's MPOS simulator produced, once per payment: what
    `find_card_payment` answers in the sandbox. Holds a masked card only, as MPOS would."""

    __tablename__ = "sandbox_card_payment"
    __table_args__ = (CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
                      CheckConstraint("result IN ('approved', 'declined')", name="result"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # MKASSA's payment public id, as MPOS received it; one result per payment.
    payment_id: Mapped[str] = mapped_column(String(26), unique=True)
    result: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    rrn: Mapped[str | None] = mapped_column(String(32))
    auth_code: Mapped[str | None] = mapped_column(String(16))
    card_mask: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
