"""Payment ids reserved for QR codes a phone makes while it has no network (issue #16, item 6)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import Merchant, Point
from .payment import Payment
from .user import User


class PaymentReservation(db.Model):
    """One payment id handed to one device of one user, for one offline QR.

    The phone puts `public_id` into the QR's 32/11 while offline; it becomes the public id of the
    payment that the Bank's notice or the phone's upload, whichever comes first, records. The payment
    lands on the point and cashier of the reservation, not on whoever reads the notice.
    """

    __tablename__ = "payment_reservation"
    __table_args__ = (
        CheckConstraint(f"uploaded_amount > 0 AND uploaded_amount <= {MAX_AMOUNT}", name="uploaded_amount_range"),
        # The stock of one device: its unused, unexpired ids.
        Index("ix_payment_reservation_stock", "user_id", "device_key", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Goes into the QR (32/11) and becomes the payment's public_id: unguessable, like every payment id.
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # The device holding the id: "device:<public id>" (quick access) or "session:<id>" (a plain sign-in).
    # Text, not a foreign key: sessions are deleted by housekeeping long before the money question ends.
    device_key: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The payment recorded for it, by the Bank's notice or by the phone's upload: one at most.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), unique=True)
    # When the phone told the server about its QR, and the amount it showed.
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uploaded_amount: Mapped[int | None] = mapped_column(BigInteger)

    merchant: Mapped[Merchant] = relationship()
    point: Mapped[Point | None] = relationship()
    user: Mapped[User] = relationship()
    payment: Mapped[Payment | None] = relationship()
