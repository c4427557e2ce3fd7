"""The partner API (#18): keys a merchant's own systems sign in with, the payments they made, and
the signed callbacks MKASSA sends them."""
from __future__ import annotations

from datetime import datetime
from enum import nonmember

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import Point
from .payment import Payment
from .status import Status, check_values

API_KEY_NAME_MAX = 60
ORDER_REF_MAX = 64
DESCRIPTION_MAX = 200
CALLBACK_URL_MAX = 2000
KEY_MODES = ("live", "test")


class CallbackStatus(Status):
    """A callback's delivery: pending until the partner answers 2xx, dead after the outbox gives up."""

    PENDING = "pending", _l("Sending")
    DELIVERED = "delivered", _l("Delivered")
    DEAD = "dead", _l("Not delivered")

    TRANSITIONS = nonmember({
        "pending": frozenset({"delivered", "dead"}),
        # An operator's retry of a dead outbox message sends it again.
        "dead": frozenset({"pending", "delivered"}),
    })


class ApiKey(db.Model):
    """A secret a partner system authenticates with. Only its SHA-256 is kept: the key is shown once."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("mode IN ('live', 'test')", name="mode"),
        Index("ix_api_key_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    # None: the whole merchant; else the key sees and creates payments of this point only.
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    name: Mapped[str] = mapped_column(String(API_KEY_NAME_MAX))
    mode: Mapped[str] = mapped_column(String(4))
    # The first characters of the key ("mk_test_AbCd"), so the owner can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Standard Webhooks secret ("whsec_…"): MKASSA signs with it, so it is kept as it is (HMAC needs
    # the secret itself); it is shown to the owner once, like the key.
    callback_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    point: Mapped[Point | None] = relationship()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ApiPayment(db.Model):
    """What a partner attached to a payment it created through the API."""

    __tablename__ = "api_payment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), unique=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), index=True)
    order_ref: Mapped[str | None] = mapped_column(String(ORDER_REF_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    callback_url: Mapped[str | None] = mapped_column(String(CALLBACK_URL_MAX))

    payment: Mapped[Payment] = relationship()
    api_key: Mapped[ApiKey] = relationship()


class ApiCallback(db.Model):
    """One event sent to a partner's callback URL; its body is fixed when the event happens, so every
    retry sends the same signed bytes under the same webhook-id."""

    __tablename__ = "api_callback"
    __table_args__ = (
        check_values("status", CallbackStatus),
        Index("ix_api_callback_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(CALLBACK_URL_MAX))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment: Mapped[Payment] = relationship()
    api_key: Mapped[ApiKey] = relationship()
    tries: Mapped[list["ApiCallbackAttempt"]] = relationship(order_by="ApiCallbackAttempt.id",
                                                             back_populates="callback")

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.public_id}"


class ApiCallbackAttempt(db.Model):
    """One try to deliver a callback: what the partner answered (or why nothing came back)."""

    __tablename__ = "api_callback_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("api_callback.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))

    callback: Mapped[ApiCallback] = relationship(back_populates="tries")
