"""Quick access and recovery: one-time SMS codes, PIN-bound devices, passkeys, WebAuthn challenges.

Every secret here is stored hashed: an SMS code with HMAC-SHA256 under the app secret, a device
credential with SHA-256 (it is 256 random bits), a PIN with argon2 (4 digits need a slow hash).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .user import PHONE_MAX, User

OTP_PURPOSE_MAX = 32
OTP_OBJECT_MAX = 120
DEVICE_NAME_MAX = 300
AUTH_SCOPE_MAX = 32


class OneTimeCode(db.Model):
    """A 4-digit SMS code bound to a user, a purpose and an object (see services.otp)."""

    __tablename__ = "one_time_code"
    __table_args__ = (Index("ix_one_time_code_phone_purpose_created", "phone", "purpose", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(OTP_PURPOSE_MAX))
    object_key: Mapped[str] = mapped_column(String(OTP_OBJECT_MAX))
    phone: Mapped[str] = mapped_column(String(PHONE_MAX))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OtpFailure(db.Model):
    """One wrong code entered: counted over 24 h to lock a purpose for an account."""

    __tablename__ = "otp_failure"
    __table_args__ = (Index("ix_otp_failure_user_purpose_at", "user_id", "purpose", "failed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    purpose: Mapped[str] = mapped_column(String(OTP_PURPOSE_MAX))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthAttempt(db.Model):
    """One sign-in or recovery attempt counted against a limit (see services.throttle).

    `key` is an HMAC of what is counted (an address, a login, a phone, a device) under the app
    secret: the table never holds an address or a phone number in clear.
    """

    __tablename__ = "auth_attempt"
    __table_args__ = (Index("ix_auth_attempt_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(AUTH_SCOPE_MAX))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OtpLock(db.Model):
    """A purpose locked for an account until `locked_until` after too many wrong codes."""

    __tablename__ = "otp_lock"
    __table_args__ = (Index("ix_otp_lock_user_purpose_until", "user_id", "purpose", "locked_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    purpose: Mapped[str] = mapped_column(String(OTP_PURPOSE_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)


class Device(db.Model):
    """A browser bound to a user by a random credential (cookie) and a PIN, for quick access.

    A row starts pending (PIN entered once, no credential yet) and becomes active when the PIN is
    repeated; only then is the credential issued.
    """

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str | None] = mapped_column(String(DEVICE_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Passkey(db.Model):
    """A WebAuthn credential of one user (D1)."""

    __tablename__ = "passkey"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # base64url of the authenticator's credential id (at most 1023 bytes by the spec).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The quick-access device it was added on: forgetting that device on sign-out revokes it too.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(DEVICE_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class WebAuthnChallenge(db.Model):
    """A challenge handed to the browser: single use, short-lived, bound to its user and ceremony."""

    __tablename__ = "webauthn_challenge"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # base64url of 32 random bytes, as it comes back in clientDataJSON.
    challenge: Mapped[str] = mapped_column(String(64), unique=True)
    ceremony: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
