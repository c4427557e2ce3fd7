"""Shifts (M5.5): a person's working period; payments taken during it carry its id."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import Merchant, Point
from .user import User

_OPEN = text("closed_at IS NULL")


class Shift(db.Model):
    __tablename__ = "shift"
    __table_args__ = (
        # One open shift per person, kept by the database even when two taps race.
        Index("uq_shift_open_per_cashier", "cashier_id", unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN),
        # History screens: a merchant's (or a person's) shifts, newest first.
        Index("ix_shift_merchant_opened", "merchant_id", "opened_at"),
        Index("ix_shift_cashier_opened", "cashier_id", "opened_at"),
        # The automatic close looks for shifts still open that were opened before a cut-off.
        Index("ix_shift_closed_opened", "closed_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    # Whoever works the shift, cashier or owner (named like Payment.cashier_id, so scoped() limits
    # a cashier to their own shifts).
    cashier_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Closed by the nightly job because nobody closed it (M5.5).
    closed_automatically: Mapped[bool] = mapped_column(Boolean, default=False)

    merchant: Mapped[Merchant] = relationship()
    cashier: Mapped[User] = relationship(foreign_keys=[cashier_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    point: Mapped[Point | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
