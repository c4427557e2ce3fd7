"""Payments: one row per sale, moved only through the transitions in services.payments."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import Merchant, Point
from .user import User

METHODS = ("qr", "card")
STATUSES = ("pending", "succeeded", "failed", "expired", "cancelled")
FINAL_STATUSES = ("succeeded", "failed", "expired", "cancelled")
CURRENCY_KGS = "417"


class Payment(db.Model):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("method IN ('qr', 'card')", name="method"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'expired', 'cancelled')", name="status"),
        # Home screen and reports read a merchant's payments newest first, optionally per cashier/point.
        Index("ix_payment_merchant_created", "merchant_id", "created_at"),
        Index("ix_payment_merchant_cashier_created", "merchant_id", "cashier_id", "created_at"),
        Index("ix_payment_merchant_point_created", "merchant_id", "point_id", "created_at"),
        Index("ix_payment_merchant_paid", "merchant_id", "paid_at"),
        # Reports: totals and charts of one status over a period, read from the index alone
        # (covering: no table lookups for the tens of thousands of rows a month holds).
        Index("ix_payment_report", "merchant_id", "status", "created_at", "method", "point_id", "cashier_id",
              "amount"),
        Index("ix_payment_status_expires", "status", "expires_at"),
        # The settlement job looks for succeeded payments not yet settled.
        Index("ix_payment_status_settled_paid", "status", "settled_at", "paid_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Goes into the QR (32/11) and URLs: unguessable.
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"))
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    method: Mapped[str] = mapped_column(String(8))
    link_type: Mapped[str] = mapped_column(String(8), default="dynamic")
    amount: Mapped[int] = mapped_column(BigInteger)  # tyiyn
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY_KGS)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the money moved from "in processing" to "available".
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Bank's references; a bank transaction credits at most one payment.
    bank_txn_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payer_bank: Mapped[str | None] = mapped_column(String(64))
    payer_name_masked: Mapped[str | None] = mapped_column(String(64))
    rrn: Mapped[str | None] = mapped_column(String(32))
    auth_code: Mapped[str | None] = mapped_column(String(16))
    card_mask: Mapped[str | None] = mapped_column(String(32))  # never a full card number
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # Money that arrived after the payment was cancelled or expired: credited, and shown to staff.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    # The shift the payment was taken in (shift mode, M5.5); the shift report reads by it.
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shift.id"), index=True)

    merchant: Mapped[Merchant] = relationship()
    point: Mapped[Point | None] = relationship()
    cashier: Mapped[User | None] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
