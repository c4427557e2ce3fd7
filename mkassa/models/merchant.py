"""Merchants (the Bank's acquiring clients) and their points of sale."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow

# Field limits, shared by forms and the schema.
DISPLAY_NAME_MAX = 25  # ELQR tag 59
LEGAL_NAME_MAX = 200
INN_LENGTH = 14
MCC_LENGTH = 4
ACCOUNT_NUMBER_MAX = 32  # ELQR tag 32/10
POINT_NAME_MAX = 100
ADDRESS_MAX = 300
POINT_REFERENCE_MAX = 32  # ELQR tag 32/11
# Quick access: the app asks for the PIN again when reopened after this long in the background
# (minutes; the owner chooses within the bounds, banking apps use a couple of minutes).
QUICK_LOCK_DEFAULT_MINUTES = 2
QUICK_LOCK_MIN_MINUTES = 1
QUICK_LOCK_MAX_MINUTES = 15


class Merchant(db.Model):
    __tablename__ = "merchant"
    __table_args__ = (CheckConstraint(f"length(mcc) = {MCC_LENGTH}", name="mcc_length"),
                      CheckConstraint(f"quick_lock_minutes BETWEEN {QUICK_LOCK_MIN_MINUTES} "
                                      f"AND {QUICK_LOCK_MAX_MINUTES}",
                                      name="quick_lock_minutes_range"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    legal_name: Mapped[str] = mapped_column(String(LEGAL_NAME_MAX))
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    inn: Mapped[str] = mapped_column(String(INN_LENGTH))
    mcc: Mapped[str] = mapped_column(String(MCC_LENGTH))
    account_number: Mapped[str] = mapped_column(String(ACCOUNT_NUMBER_MAX))
    bank_name: Mapped[str] = mapped_column(String(200))
    bank_bic: Mapped[str] = mapped_column(String(16))
    account_opened_on: Mapped[date] = mapped_column(Date)
    mbank_phone: Mapped[str | None] = mapped_column(String(16))
    is_bank_client: Mapped[bool] = mapped_column(Boolean, default=False)
    has_mpos_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    shift_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    # Issue #17: cashiers may refund their own payments of the day only when the owner allows it.
    cashiers_may_refund: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    quick_lock_minutes: Mapped[int] = mapped_column(Integer, default=QUICK_LOCK_DEFAULT_MINUTES,
                                                    server_default=str(QUICK_LOCK_DEFAULT_MINUTES))
    report_email: Mapped[str | None] = mapped_column(String(254))
    report_email_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    points: Mapped[list["Point"]] = relationship(back_populates="merchant", order_by="Point.id")


class Point(db.Model):
    """A point of sale. Archived, never deleted, once it has payments: history keeps its name."""

    __tablename__ = "point"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    name: Mapped[str] = mapped_column(String(POINT_NAME_MAX))
    address: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # The static QR's 32/11: payments to a printed QR land on this point.
    reference: Mapped[str] = mapped_column(String(POINT_REFERENCE_MAX), unique=True, default=new_public_id)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="points")
