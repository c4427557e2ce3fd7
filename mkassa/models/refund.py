"""Refunds of succeeded payments (issue #17), and the sandbox bank's record of them."""
from __future__ import annotations

from datetime import datetime
from enum import nonmember

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .status import Status, check_values

BANK_REF_MAX = 64
REASON_MAX = 200


class RefundStatus(Status):
    """A refund's status; moved only by guarded transitions in services.refunds."""

    # Waits for its SMS code; no money reserved yet.
    REQUESTED = "requested", _l("Waiting for the code")
    # Money reserved, the request is being sent to the Bank (outbox).
    CONFIRMED = "confirmed", _l("Sent to the Bank")
    # The Bank took the request.
    PENDING = "pending", _l("At the Bank")
    # The Bank's final word: returned to the payer, or not (the reservation is released).
    SUCCEEDED = "succeeded", _l("Refunded")
    FAILED = "failed", _l("Refund failed, the money is available again")

    TRANSITIONS = nonmember({
        "requested": frozenset({"confirmed"}),
        # The Bank's answer may arrive before the request is marked taken.
        "confirmed": frozenset({"pending", "succeeded", "failed"}),
        "pending": frozenset({"succeeded", "failed"}),
    })


IN_FLIGHT = (RefundStatus.CONFIRMED, RefundStatus.PENDING)
FINAL = (RefundStatus.SUCCEEDED, RefundStatus.FAILED)
# The refunds that take from what was paid: reserved or done (a failed one gave its share back).
COUNTED = (RefundStatus.CONFIRMED, RefundStatus.PENDING, RefundStatus.SUCCEEDED)


class SandboxRefundStatus(Status):
    """The sandbox bank's own record of a refund: what `corebank.find_refund` answers in the sandbox."""

    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    TRANSITIONS = nonmember({"processing": frozenset({"succeeded", "failed"})})


class Refund(db.Model):
    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"amount <= {MAX_AMOUNT}", name="amount_ceiling"),
        check_values("status", RefundStatus),
        Index("ix_refund_status_confirmed", "status", "confirmed_at"),
        # Reports and the statement read a merchant's refunds by when they were finished.
        Index("ix_refund_merchant_finished", "merchant_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.REQUESTED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bank_ref: Mapped[str | None] = mapped_column(String(BANK_REF_MAX))
    failure_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))

    merchant = relationship("Merchant")
    payment = relationship("Payment")
    requested_by = relationship("User")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class SandboxBankRefund(db.Model):
    """What the sandbox bank knows about a refund it was asked for (bank-interface.md §3a, §6)."""

    __tablename__ = "sandbox_bank_refund"
    __table_args__ = (CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
                      check_values("status", SandboxRefundStatus))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One row per refund id: asking twice is the same refund (request_refund is idempotent).
    refund_id: Mapped[str] = mapped_column(String(26), unique=True)
    payment_id: Mapped[str] = mapped_column(String(26))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=SandboxRefundStatus.PROCESSING.value)
    bank_ref: Mapped[str] = mapped_column(String(BANK_REF_MAX))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
