"""Credentials and sign-in sessions."""
from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update

from ..config import SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS
from ..extensions import db
from ..models import User, UserSession, utcnow

GENERATED_PASSWORD_LENGTH = 10
# Refresh last_seen_at at most this often: not a database write on every request.
SESSION_TOUCH_SECONDS = 60
USER_AGENT_MAX = 300

_hasher = PasswordHasher()
# Verified against when the login is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "lIO0o1")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_LENGTH))


def generate_login(prefix: str) -> str:
    """A login nobody has yet: prefix plus digits, easy to type on a phone."""
    base = "".join(c for c in prefix.lower() if c.isascii() and c.isalnum())[:12] or "user"
    while True:
        login = f"{base}{secrets.randbelow(9000) + 1000}"
        if not db.session.scalar(select(User.id).where(func.lower(User.login) == login)):
            return login


def authenticate(login: str, password: str) -> User | None:
    """The user if login and password match an active account; None otherwise, without saying why."""
    user = db.session.scalar(select(User).where(func.lower(User.login) == login.strip().lower()))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, user_agent: str | None = None) -> str:
    """A new session and its token (the cookie's only content): rotated at every sign-in."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(token_hash=_token_hash(token), user_id=user.id,
                               user_agent=(user_agent or "")[:USER_AGENT_MAX]))
    return token


def load_session(token: str | None, now: datetime | None = None) -> UserSession | None:
    """The live session for a token, or None when unknown, revoked, idle too long or too old."""
    if not token:
        return None
    now = now or utcnow()
    sess = db.session.scalar(select(UserSession).where(UserSession.token_hash == _token_hash(token)))
    if sess is None or sess.revoked_at is not None or not sess.user.active:
        return None
    if now - sess.last_seen_at > timedelta(seconds=SESSION_IDLE_SECONDS) or \
            now - sess.created_at > timedelta(seconds=SESSION_ABSOLUTE_SECONDS):
        sess.revoked_at = now
        return None
    if now - sess.last_seen_at > timedelta(seconds=SESSION_TOUCH_SECONDS):
        sess.last_seen_at = now
    return sess


def end_session(token: str | None) -> None:
    if token:
        db.session.execute(update(UserSession).where(UserSession.token_hash == _token_hash(token),
                                                     UserSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))


def revoke_user_sessions(user: User) -> None:
    """End every session of a user at once (deactivation, password change)."""
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id,
                                                 UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
