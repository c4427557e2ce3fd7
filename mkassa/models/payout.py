"""Withdrawals to the merchant's MBANK wallet (M7), and the sandbox bank's record of them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT
from .base import BigId, UTCDateTime, new_public_id, utcnow

PHONE_MAX = 16
BANK_REF_MAX = 64
REASON_MAX = 200
# requested: waits for its SMS code; confirmed: money reserved, the Bank is being asked;
# pending: the Bank accepted the request; succeeded | failed: the Bank's final word.
PAYOUT_STATUSES = ("requested", "confirmed", "pending", "succeeded", "failed")
IN_FLIGHT = ("confirmed", "pending")
FINAL = ("succeeded", "failed")


class Payout(db.Model):
    __tablename__ = "payout"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"amount <= {MAX_AMOUNT}", name="amount_ceiling"),
        # The reconciliation job looks for payouts in flight for too long.
        Index("ix_payout_status_confirmed", "status", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    mbank_phone: Mapped[str] = mapped_column(String(PHONE_MAX))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When reconciliation last asked the Bank about it (it asks again only after a while).
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bank_ref: Mapped[str | None] = mapped_column(String(BANK_REF_MAX))
    failure_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    # Still in flight ten minutes after confirmation (M7.4): shown to operators in the bank console.
    flagged_overdue: Mapped[bool] = mapped_column(Boolean, default=False)

    merchant = relationship("Merchant")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class SandboxBankPayout(db.Model):
    """What the sandbox bank knows about a payout it was asked for (bank-interface.md §3, §6)."""

    __tablename__ = "sandbox_bank_payout"
    __table_args__ = (CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One row per payout id: asking twice is the same payout (request_payout is idempotent).
    payout_id: Mapped[str] = mapped_column(String(26), unique=True)
    mbank_phone: Mapped[str] = mapped_column(String(PHONE_MAX))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="processing")  # processing|succeeded|failed
    bank_ref: Mapped[str] = mapped_column(String(BANK_REF_MAX))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
