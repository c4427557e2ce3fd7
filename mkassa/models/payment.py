"""Payments: one row per sale, moved only through the transitions in services.payments."""
from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import nonmember

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT, MAX_BALANCE
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import Merchant, Point
from .status import Status, check_values
from .user import User

METHODS = ("qr", "card")
CURRENCY_KGS = "417"
# The payer's receipt link (/r/<token>) is public and never expires, so its id must not be guessable
# nor derived from anything the payer's bank or the QR already carries (the public_id is in the QR).
RECEIPT_TOKEN_BYTES = 16  # 128 random bits
RECEIPT_TOKEN_LENGTH = 22  # URL-safe base64 of 16 bytes, no padding


def new_receipt_token() -> str:
    return secrets.token_urlsafe(RECEIPT_TOKEN_BYTES)


class PaymentStatus(Status):
    """A payment's status; moved only by services.payments.transition."""

    PENDING = "pending", _l("Waiting")
    SUCCEEDED = "succeeded", _l("Paid")
    FAILED = "failed", _l("Failed")
    EXPIRED = "expired", _l("Expired")
    CANCELLED = "cancelled", _l("Cancelled")

    TRANSITIONS = nonmember({
        "pending": frozenset({"succeeded", "failed", "expired", "cancelled"}),
        # Late money: the payer paid a QR the cashier had already given up on, or paid again after
        # a failed attempt. It is credited and flagged, never dropped.
        "expired": frozenset({"succeeded"}),
        "cancelled": frozenset({"succeeded"}),
        "failed": frozenset({"succeeded"}),
    })


STATUSES = tuple(PaymentStatus)
FINAL_STATUSES = tuple(s for s in PaymentStatus if s is not PaymentStatus.PENDING)


class Payment(db.Model):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"amount <= {MAX_AMOUNT}", name="amount_ceiling"),
        CheckConstraint("method IN ('qr', 'card')", name="method"),
        CheckConstraint(f"offline_amount > 0 AND offline_amount <= {MAX_AMOUNT}", name="offline_amount_range"),
        check_values("status", PaymentStatus),
        # Home screen and reports read a merchant's payments newest first, optionally per cashier/point.
        Index("ix_payment_merchant_created", "merchant_id", "created_at"),
        Index("ix_payment_merchant_cashier_created", "merchant_id", "cashier_id", "created_at"),
        Index("ix_payment_merchant_point_created", "merchant_id", "point_id", "created_at"),
        # Home's total of the day (paid today, succeeded) read from the index alone: at a million
        # payments the table lookups for status and amount were two thirds of the query.
        Index("ix_payment_merchant_paid", "merchant_id", "paid_at", "status", "amount"),
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
    # The id of the payer's public receipt (blueprints/receipts); only a succeeded payment shows one.
    # A random column, not an HMAC of public_id: a rotated secret would silently break old receipts.
    receipt_token: Mapped[str] = mapped_column(String(32), unique=True, default=new_receipt_token)
    # The columns that key the payment_day rollup keep their old value when changed (active_history),
    # so that the rollup listener (services.rollup) can move the payment from its old row to its new one.
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), active_history=True)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"), active_history=True)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), active_history=True)
    method: Mapped[str] = mapped_column(String(8), active_history=True)
    link_type: Mapped[str] = mapped_column(String(8), default="dynamic")
    amount: Mapped[int] = mapped_column(BigInteger, active_history=True)  # tyiyn
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY_KGS)
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING.value, active_history=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, active_history=True)
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
    # A QR made while the phone was offline (services.offline): the amount the phone showed, once it
    # has told the server. The Bank's amount is what counts; a different one here flags the payment.
    offline_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The shift the payment was taken in (shift mode, M5.5); the shift report reads by it.
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shift.id"), index=True)

    merchant: Mapped[Merchant] = relationship()
    point: Mapped[Point | None] = relationship()
    cashier: Mapped[User | None] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


# payment_day.point_id / cashier_id for a payment without a point or a cashier: NULLs are distinct in
# a unique constraint, so "none" is stored as this sentinel (never a real id) to keep one row per key.
NO_ID = 0


class PaymentDay(db.Model):
    """Daily rollup of payments: count and sum per Bishkek day (of created_at), point, cashier, method, status.

    Kept exact in the same transaction as every change of a payment (services.rollup), so reports over
    long periods read a few rows per day instead of every payment. Derived data: no foreign keys on
    point/cashier (they hold NO_ID for "none").
    """

    __tablename__ = "payment_day"
    __table_args__ = (
        UniqueConstraint("merchant_id", "day", "point_id", "cashier_id", "method", "status",
                         name="uq_payment_day_key"),
        check_values("status", PaymentStatus),
        # Both ways: the rollup upserts deltas, and a database checks the proposed (negative) row too.
        CheckConstraint(f"amount_sum BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}", name="amount_sum_ceiling"),
        # Reports over many days group by (day, method, status): in this order SQLite reads the rows
        # already grouped, from the index alone (a year at a million payments: 10 ms -> 4.5 ms). SQLite
        # only: on PostgreSQL an index holding count and amount_sum would make every rollup upsert a
        # non-HOT update (a new index entry per payment), and its index-only scans need all-visible
        # pages, which rows updated all day are not.
        Index("ix_payment_day_report", "merchant_id", "day", "method", "status", "amount_sum", "count")
        .ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    day: Mapped[date] = mapped_column(Date)
    point_id: Mapped[int] = mapped_column(BigInteger, default=NO_ID)
    cashier_id: Mapped[int] = mapped_column(BigInteger, default=NO_ID)
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=0)
    amount_sum: Mapped[int] = mapped_column(BigInteger, default=0)  # tyiyn


class PaymentHour(db.Model):
    """Hourly rollup of a merchant's payments: count and sum per hour (of created_at), method and status,
    all points and cashiers together.

    A one-day report of a whole shop charts it by hour: at a million payments its day is thousands of
    payments to group, and at most 24 hours x methods x statuses rows here. Kept exact with every change
    of a payment, in the same upsert pass as payment_day (services.rollup). Only owners read it
    (scope.RULES): it holds every cashier's takings.

    `hour`: the UTC hour's first moment; Bishkek is UTC+6 all year, so a UTC hour is a Bishkek hour.
    """

    __tablename__ = "payment_hour"
    __table_args__ = (
        UniqueConstraint("merchant_id", "hour", "method", "status", name="uq_payment_hour_key"),
        check_values("status", PaymentStatus),
        CheckConstraint(f"amount_sum BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}", name="amount_sum_ceiling"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=0)
    amount_sum: Mapped[int] = mapped_column(BigInteger, default=0)  # tyiyn
