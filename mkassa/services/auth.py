"""Credentials and sign-in sessions."""
from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import joinedload

from .. import durable
from ..config import DEFAULT_LOCALE, SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS
from ..extensions import db
from ..gateways.sms import queue_sms
from ..models import Device, User, UserSession, utcnow
from . import Invalid, throttle
from .throttle import Rule

GENERATED_PASSWORD_LENGTH = 10
# Refresh last_seen_at at most this often: not a database write on every request.
SESSION_TOUCH_SECONDS = 60
# Refresh alive_at on ordinary requests at most this often (the page's own "still open" reports
# always write it). Well under the shortest quick-lock time, QUICK_LOCK_MIN_MINUTES.
ALIVE_TOUCH_SECONDS = 10
# What a request says about the person: "activity" (a page, a form: the idle clock restarts),
# "open" (the page reports it is on screen: only the quick-lock clock restarts), "none" (a stream
# the browser keeps by itself).
ACTIVITY, OPEN, NONE = "activity", "open", "none"
USER_AGENT_MAX = 300
PASSWORD_MIN = 8
PASSWORD_MAX = 128
# The passwords of at least 8 characters that leaked lists show first; compared case-insensitively.
COMMON_PASSWORDS = frozenset("""
12345678 123456789 1234567890 0123456789 87654321 11111111 00000000 22222222 88888888 12341234
12121212 11223344 password password1 password123 passw0rd qwertyui qwerty123 qwertyuiop 1q2w3e4r
1q2w3e4r5t 1qaz2wsx zaq12wsx asdfghjk iloveyou sunshine princess football baseball superman
trustno1 welcome1 abc12345 abcd1234 admin123 administrator letmein1 monkey123 dragon123 mkassa123
mkassa2024 qwerty12 q1w2e3r4 aaaaaaaa 123123123 qazwsxedc 987654321 11112222 55555555 99999999
parol123 parolparol йцукенгш пароль123 kyrgyzstan bishkek1 bishkek123
""".split())

# Wrong passwords, counted so that an attacker slows himself and not the account's owner:
# - a browser that is one of the account's own devices (quick access set up, its cookie sent) is
#   limited on its own and by nothing else: failures from elsewhere never lock the owner's phone;
# - any other browser first by its address (X-Forwarded-For as TRUSTED_PROXIES proxies saw it),
#   then by the login across all addresses.
# Guess budget per account and day: LOGIN_ACCOUNT.limit (30) from all other browsers together, plus
# LOGIN_DEVICE.limit (10) from each of the owner's own devices, which only he can hold. Against
# passwords of 8+ characters with the common ones refused (or 10 generated characters, 57^10),
# that is nowhere near enough to guess one. Successful sign-ins never count.
LOGIN_ADDRESS = Rule("login.address", 10, 15 * 60, _l(
    "Too many wrong passwords from this network. Try again in %(wait)s."))
LOGIN_ACCOUNT = Rule("login.account", 30, 24 * 60 * 60, _l(
    "Too many wrong passwords for this login from other devices. Open MKASSA on your phone with "
    "quick access, restore access by SMS, or try again in %(wait)s."))
LOGIN_DEVICE = Rule("login.device", 10, 24 * 60 * 60, _l(
    "Too many wrong passwords on this device. Restore access by SMS, or try again in %(wait)s."))
LOGIN_FAILURES_NOTICE = _l("MKASSA: many wrong passwords were entered for your login from other devices; "
                           "sign-in from new devices is paused for a day. Your phone with quick access "
                           "still works. If it was not you, call the Bank.")

PASSWORD_CHANGED_NOTICE = _l("MKASSA: your password was changed. If it was not you, call the Bank.")

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


def _login_key(login: str) -> str:
    return "login:" + login.strip().lower()[:64]


def begin_login(login: str, address: str | None, own_device: Device | None) -> throttle.Attempt:
    """Count a sign-in attempt before the password is checked; throttle.Throttled when over a limit.

    `own_device` is the browser's device when it belongs to the account being signed in to.
    """
    if own_device is not None:
        return throttle.begin((LOGIN_DEVICE, f"device:{own_device.id}"))
    return throttle.begin((LOGIN_ADDRESS, f"address:{address or ''}"), (LOGIN_ACCOUNT, _login_key(login)))


def login_failed(login: str, own_device: Device | None) -> None:
    """After a wrong password (the attempt stays counted): when the failures from other browsers
    reach the account's limit, its owner is told once by SMS. Kept by `durable.keep`: the request
    then fails."""
    mark = durable.mark()
    _tell_owner_of_failures(login, own_device)
    durable.keep(mark, redo=lambda: _tell_owner_of_failures(login, own_device))


def _tell_owner_of_failures(login: str, own_device: Device | None) -> None:
    if own_device is None and throttle.count(LOGIN_ACCOUNT, _login_key(login)) >= LOGIN_ACCOUNT.limit:
        user = db.session.scalar(select(User).where(func.lower(User.login) == login.strip().lower()))
        if user is not None and user.phone:
            with force_locale(user.locale or DEFAULT_LOCALE):
                queue_sms(user.phone, str(LOGIN_FAILURES_NOTICE),
                          dedupe_key=f"login-failures:{user.id}:{utcnow():%Y-%m-%d}")


def login_succeeded(attempt: throttle.Attempt) -> None:
    throttle.forget(attempt)


def inactive_reason(login: str, password: str) -> str | None:
    """Why a correct login and password were refused (a deactivated account), or None.

    Only someone who knows the password learns that the account exists and is switched off. The
    login view calls this after `authenticate` said no; it always verifies one hash, so the answer
    takes as long for an unknown login as for a deactivated one.
    """
    user = db.session.scalar(select(User).where(func.lower(User.login) == login.strip().lower()))
    inactive = user is not None and not user.active
    ok = verify_password(user.password_hash if inactive else _DUMMY_HASH, password)
    if not (inactive and ok):
        return None
    return str(_l("This account has been deactivated. Ask the owner of your business or the Bank to "
                  "activate it again."))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Every signed-in request runs this one SELECT (the user comes in the same round trip): built once, so
# SQLAlchemy keys its cache on it once, not per request (joinedload made that key a third of its cost).
_SESSION_BY_TOKEN = (select(UserSession).where(UserSession.token_hash == bindparam("token_hash"))
                     .options(joinedload(UserSession.user, innerjoin=True)))


def start_session(user: User, user_agent: str | None = None) -> str:
    """A new session and its token (the cookie's only content): rotated at every sign-in."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(token_hash=_token_hash(token), user_id=user.id, alive_at=utcnow(),
                               user_agent=(user_agent or "")[:USER_AGENT_MAX]))
    return token


def load_session(token: str | None, now: datetime | None = None, *, seen: str = ACTIVITY,
                 quick_lock: Callable[[User], timedelta | None] | None = None) -> UserSession | None:
    """The live session for a token, or None when unknown, revoked, idle too long, too old, or locked.

    `seen`: what the request says about the person (ACTIVITY, OPEN or NONE, above).
    `quick_lock(user)`: on this user's quick-access device, the longest the app may have been out of
    sight (in the background, the phone asleep, or no page open) before the PIN is asked again. The
    gap is measured on the server from alive_at, which only requests and the page's own reports move:
    a page that cannot report (JavaScript off) locks after the same gap, so nothing on the phone can
    skip the check.
    """
    if not token:
        return None
    now = now or utcnow()
    sess = db.session.scalar(_SESSION_BY_TOKEN, {"token_hash": _token_hash(token)})
    if sess is None or sess.revoked_at is not None or not sess.user.active:
        return None
    alive_at = sess.alive_at or sess.last_seen_at
    lock_after = quick_lock(sess.user) if quick_lock is not None else None
    if now - sess.last_seen_at > timedelta(seconds=SESSION_IDLE_SECONDS) or \
            now - sess.created_at > timedelta(seconds=SESSION_ABSOLUTE_SECONDS) or \
            (lock_after is not None and now - alive_at > lock_after):
        sess.revoked_at = now
        return None
    if seen == ACTIVITY and now - sess.last_seen_at > timedelta(seconds=SESSION_TOUCH_SECONDS):
        sess.last_seen_at = now
    if seen == OPEN or (seen == ACTIVITY and now - alive_at > timedelta(seconds=ALIVE_TOUCH_SECONDS)):
        sess.alive_at = now
    return sess


def end_session(token: str | None) -> None:
    if token:
        db.session.execute(update(UserSession).where(UserSession.token_hash == _token_hash(token),
                                                     UserSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))


def revoke_user_sessions(user: User) -> None:
    """End every session of a user at once, and every device's quick access with them
    (deactivation, password change): one call, so no caller can forget the devices."""
    from . import devices  # devices hashes PINs with this module: imported here, not at the top
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id,
                                                 UserSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    devices.revoke_all(user)


def notify(user: User, text) -> None:
    """An SMS notice to the user's phone, in the user's language (credential changes, locks)."""
    if user.phone:
        with force_locale(user.locale or DEFAULT_LOCALE):
            queue_sms(user.phone, str(text))


def check_new_password(login: str, password: str, repeat: str) -> str:
    """The new password if acceptable; Invalid({field: message}) otherwise."""
    if len(password) < PASSWORD_MIN:
        raise Invalid({"password": _l("At least %(n)s characters.", n=PASSWORD_MIN)})
    if len(password) > PASSWORD_MAX:
        raise Invalid({"password": _l("At most %(n)s characters.", n=PASSWORD_MAX)})
    if password.strip().lower() in COMMON_PASSWORDS:
        raise Invalid({"password": _l("This password is too common. Choose another one.")})
    if login and password.strip().lower() == login.lower():
        raise Invalid({"password": _l("The password must differ from your login.")})
    if password != repeat:
        raise Invalid({"password_repeat": _l("The passwords do not match.")})
    return password


def set_password(user: User, password: str) -> None:
    """A new password: every session and device of the user ends, and the user is told by SMS."""
    user.password_hash = hash_password(password)
    revoke_user_sessions(user)
    notify(user, PASSWORD_CHANGED_NOTICE)
