"""Web push subscriptions (D5): one row per browser that asked to be told about payments."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, utcnow
from .user import User

# A push service's URL for one browser; real ones (FCM, Mozilla, Apple, WNS) stay well under this.
PUSH_ENDPOINT_MAX = 1000
# The browser's keys, URL-safe base64: a P-256 public point (65 bytes) and a 16-byte auth secret.
P256DH_MAX = 100
AUTH_MAX = 40


class PushSubscription(db.Model):
    __tablename__ = "push_subscription"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # A browser has one endpoint; whoever subscribed last on that browser receives its pushes.
    endpoint: Mapped[str] = mapped_column(String(PUSH_ENDPOINT_MAX), unique=True)
    p256dh: Mapped[str] = mapped_column(String(P256DH_MAX))
    auth: Mapped[str] = mapped_column(String(AUTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive failed deliveries (reset by a success): tells an operator a device went quiet.
    failure_count: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship()

    def subscription_info(self) -> dict:
        """What the browser's PushSubscription.toJSON() gave us, as pywebpush takes it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
