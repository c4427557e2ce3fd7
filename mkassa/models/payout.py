"""Withdrawals to the merchant's MBANK wallet (M7), and the sandbox bank's record of them."""
from __future__ import annotations

from datetime import datetime
from enum import nonmember

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .status import Status, check_values

PHONE_MAX = 16
BANK_REF_MAX = 64
REASON_MAX = 200


class PayoutStatus(Status):
    """A withdrawal's status; moved only by guarded transitions in services.payouts."""

    # Waits for its SMS code; no money reserved yet.
    REQUESTED = "requested", _l("Waiting for the code")
    # Money reserved, the order is being sent to the Bank (outbox).
    CONFIRMED = "confirmed", _l("Sent to the Bank")
    # The Bank took the order.
    PENDING = "pending", _l("At the Bank")
    # The Bank's final word: paid to the MBANK wallet, or not (the reservation is voided).
    SUCCEEDED = "succeeded", _l("Paid out")
    FAILED = "failed", _l("Failed, the money is available again")

    TRANSITIONS = nonmember({
        "requested": frozenset({"confirmed"}),
        # The Bank's answer may arrive (webhook, reconciliation) before the order is marked taken.
        "confirmed": frozenset({"pending", "succeeded", "failed"}),
        "pending": frozenset({"succeeded", "failed"}),
    })


PAYOUT_STATUSES = tuple(PayoutStatus)
IN_FLIGHT = (PayoutStatus.CONFIRMED, PayoutStatus.PENDING)
FINAL = (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)


class SandboxPayoutStatus(Status):
    """The sandbox bank's own record of a payout: what `corebank.find_payout` answers in the sandbox."""

    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    TRANSITIONS = nonmember({"processing": frozenset({"succeeded", "failed"})})


class Payout(db.Model):
    __tablename__ = "payout"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"amount <= {MAX_AMOUNT}", name="amount_ceiling"),
        check_values("status", PayoutStatus),
        # The reconciliation job looks for payouts in flight for too long.
        Index("ix_payout_status_confirmed", "status", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    mbank_phone: Mapped[str] = mapped_column(String(PHONE_MAX))
    status: Mapped[str] = mapped_column(String(16), default=PayoutStatus.REQUESTED.value)
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
    __table_args__ = (CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
                      check_values("status", SandboxPayoutStatus))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One row per payout id: asking twice is the same payout (request_payout is idempotent).
    payout_id: Mapped[str] = mapped_column(String(26), unique=True)
    mbank_phone: Mapped[str] = mapped_column(String(PHONE_MAX))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=SandboxPayoutStatus.PROCESSING.value)
    bank_ref: Mapped[str] = mapped_column(String(BANK_REF_MAX))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
