"""People who sign in: merchant owners, cashiers and bank staff, and their sessions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .merchant import INN_LENGTH, Merchant, Point

ROLES = ("owner", "cashier", "admin")
LOGIN_MAX = 64
NAME_MAX = 200
PHONE_MAX = 16  # E.164


class User(db.Model):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'cashier', 'admin')", name="role"),
        # Owners and cashiers belong to a merchant; bank staff to none.
        CheckConstraint("(role = 'admin') = (merchant_id IS NULL)", name="merchant_by_role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    login: Mapped[str] = mapped_column(String(LOGIN_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(PHONE_MAX), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    inn: Mapped[str | None] = mapped_column(String(INN_LENGTH))
    # A cashier's point; an owner's chosen point for his own payments (M5.4).
    point_id: Mapped[int | None] = mapped_column(ForeignKey("point.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant: Mapped[Merchant | None] = relationship()
    point: Mapped[Point | None] = relationship()

    # Flask-Login protocol (sessions are looked up by their own token, see services.auth).
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return self.public_id

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def is_cashier(self) -> bool:
        return self.role == "cashier"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserSession(db.Model):
    """A server-side sign-in session; the cookie only carries its random token.

    Kept server-side so that a deactivated user, a logout or a password change ends the session
    at once on every device, which a signed cookie alone cannot do.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last moment the app was seen open on screen (any request, or the page's "still open" report):
    # reopened after a longer gap than the merchant's quick-lock time, the device asks for the PIN.
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()
