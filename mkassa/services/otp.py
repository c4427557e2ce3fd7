"""One-time SMS codes: 4 digits, bound to (user, purpose, object), short-lived, few tries.

API
---
- `register_purpose(purpose, sms_text)` — once, at import of the module that uses a purpose.
  `sms_text` is a lazy translatable string with `%(code)s` and any other `%(name)s` the caller
  passes to `issue` (e.g. the amount of a withdrawal). Purposes used here: "password" (forgot
  password, M2/M3, and send password, M5.8).
- `issue(user, purpose, object_key, **sms_params)` — a fresh code, sent by SMS through the outbox
  in the current transaction. It supersedes the previous live code of the same binding.
  Raises `NoPhone`, `TooManyCodes` (MAX_CODES_PER_HOUR per phone and purpose) or `Locked`.
- `verify(user, purpose, object_key, code)` — returns on success and uses the code up (single use);
  raises `WrongCode` (wrong, expired, used, superseded, out of tries or never issued: the caller
  cannot tell which, nor can whoever types) or `Locked`. A wrong code's try is kept by
  `durable.keep` before the exception leaves, so the count survives the request's rollback;
  what the caller flushed before is not committed with it.
- `is_locked(user, purpose)`.

The object key ties a code to what it confirms ("password", "payout:<public_id>:<tyiyn>"): a code
sent for one withdrawal never confirms another, nor a different amount.
Codes are stored as HMAC-SHA256 under the app secret over the binding and the code, compared in
constant time; they never reach a log. LOCK_AFTER_FAILURES wrong codes within FAILURE_WINDOW_SECONDS
lock the purpose for that account for LOCK_SECONDS, and the owner of the phone is told by SMS.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from .. import durable
from ..config import DEFAULT_LOCALE
from ..extensions import db
from ..gateways.sms import queue_sms
from ..models import OneTimeCode, OtpFailure, OtpLock, User, utcnow
from . import ServiceError

CODE_DIGITS = 4
CODE_LIFETIME_SECONDS = 5 * 60
MAX_TRIES = 3
MAX_CODES_PER_HOUR = 5
CODES_WINDOW_SECONDS = 60 * 60
LOCK_AFTER_FAILURES = 10
FAILURE_WINDOW_SECONDS = 24 * 60 * 60
LOCK_SECONDS = 24 * 60 * 60

_PURPOSES: dict[str, object] = {}
LOCK_NOTICE = _l("MKASSA: too many wrong codes. Access recovery is locked for 24 hours. "
                 "If it was not you, call the Bank.")


class NoPhone(ServiceError):
    status = 422


class TooManyCodes(ServiceError):
    status = 429


class Locked(ServiceError):
    status = 429


class WrongCode(ServiceError):
    status = 422


def register_purpose(purpose: str, sms_text) -> None:
    _PURPOSES[purpose] = sms_text


def _digest(user_id: int, purpose: str, object_key: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}\x1f{purpose}\x1f{object_key}\x1f{code}".encode(), hashlib.sha256).hexdigest()


def _sms(user: User, text, **params) -> None:
    with force_locale(user.locale or DEFAULT_LOCALE):
        queue_sms(user.phone, str(text) % params)


def is_locked(user: User, purpose: str, now: datetime | None = None) -> bool:
    return _locked(user.id, purpose, now or utcnow())


def _locked(user_id: int, purpose: str, now: datetime) -> bool:
    return db.session.scalar(select(OtpLock.id).where(
        OtpLock.user_id == user_id, OtpLock.purpose == purpose, OtpLock.locked_until > now).limit(1)) is not None


def _live_code(user_id: int, purpose: str, object_key: str, now: datetime) -> OneTimeCode | None:
    """The newest usable code of a binding, read afresh (another request may have just used it)."""
    return db.session.scalar(select(OneTimeCode).where(
        OneTimeCode.user_id == user_id, OneTimeCode.purpose == purpose, OneTimeCode.object_key == object_key,
        OneTimeCode.used_at.is_(None), OneTimeCode.expires_at > now, OneTimeCode.attempts < MAX_TRIES)
        .order_by(OneTimeCode.id.desc()).limit(1).execution_options(populate_existing=True))


def _failures_towards_lock(user_id: int, purpose: str, now: datetime) -> int:
    """Failures in the window, not counting those that already caused a lock."""
    since = now - timedelta(seconds=FAILURE_WINDOW_SECONDS)
    last_lock = db.session.scalar(select(func.max(OtpLock.created_at)).where(
        OtpLock.user_id == user_id, OtpLock.purpose == purpose))
    if last_lock is not None and last_lock > since:
        since = last_lock
    return db.session.scalar(select(func.count(OtpFailure.id)).where(
        OtpFailure.user_id == user_id, OtpFailure.purpose == purpose, OtpFailure.failed_at > since))


def issue(user: User, purpose: str, object_key: str, *, now: datetime | None = None, own_device: bool = False,
          limit_per_phone: bool = True, **sms_params) -> None:
    """`own_device`: asked from one of the user's own quick-access devices, which the account's
    lock (caused by failures from elsewhere) does not stop. `limit_per_phone=False` when the caller
    limits the requests itself (recovery counts them per phone and per device in services.throttle)."""
    now = now or utcnow()
    if not user.phone:
        raise NoPhone(_l("No phone number is on file for this account. Please call the Bank."))
    if not own_device and is_locked(user, purpose, now):
        raise Locked(_l("Too many wrong codes. Try again in 24 hours."))
    recent = db.session.scalar(select(func.count(OneTimeCode.id)).where(
        OneTimeCode.phone == user.phone, OneTimeCode.purpose == purpose,
        OneTimeCode.created_at > now - timedelta(seconds=CODES_WINDOW_SECONDS))) if limit_per_phone else 0
    if recent >= MAX_CODES_PER_HOUR:
        raise TooManyCodes(_l("Too many codes were sent to this number. Try again in an hour."))
    # Only the newest code of a binding is live: an older SMS arriving late cannot be used.
    db.session.execute(update(OneTimeCode).where(
        OneTimeCode.user_id == user.id, OneTimeCode.purpose == purpose, OneTimeCode.object_key == object_key,
        OneTimeCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    db.session.add(OneTimeCode(user_id=user.id, purpose=purpose, object_key=object_key, phone=user.phone,
                               code_hash=_digest(user.id, purpose, object_key, code), created_at=now,
                               expires_at=now + timedelta(seconds=CODE_LIFETIME_SECONDS)))
    _sms(user, _PURPOSES[purpose], code=code, **sms_params)
    db.session.flush()


def verify(user: User, purpose: str, object_key: str, code: str, *, now: datetime | None = None,
           own_device: bool = False) -> None:
    """`own_device`: typed on one of the user's own quick-access devices. The account's lock does
    not stop it and its wrong codes do not feed that lock (the caller limits the device itself)."""
    now = now or utcnow()
    mark = durable.mark()
    # One verification at a time per user, under a lock on the user's row held until the try is
    # committed: the lock check, the try count and the failure count cannot interleave with a
    # parallel request's, so a burst of guesses gets exactly MAX_TRIES tries per code and
    # LOCK_AFTER_FAILURES before the lock.
    _lock_user(user.id)
    if not own_device and _locked(user.id, purpose, now):
        raise Locked(_l("Too many wrong codes. Try again in 24 hours."))
    row = _live_code(user.id, purpose, object_key, now)
    if row is None:
        # Nothing was evaluated (no live code, or a parallel request used it up a moment ago, as a
        # double tap on "Confirm" does): no wrong try is counted.
        raise WrongCode(_l("Wrong or expired code."), field="code")
    # The try counts before the code is compared.
    row.attempts += 1
    db.session.flush()
    candidate = (code or "").strip()
    if hmac.compare_digest(row.code_hash, _digest(user.id, purpose, object_key, candidate)):
        row.used_at = now
        db.session.flush()
        return
    if not own_device:
        _record_failure(user, purpose, now)
    # The try must count although the request answers with an error and rolls back.
    code_id = row.id
    durable.keep(mark, redo=lambda: _redo_wrong_try(user, code_id, purpose, now, own_device))
    raise WrongCode(_l("Wrong or expired code."), field="code")


def _lock_user(user_id: int) -> None:
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _redo_wrong_try(user: User, code_id: int, purpose: str, now: datetime, own_device: bool) -> None:
    """The wrong try again, alone in a fresh transaction (the caller's work was rolled back)."""
    _lock_user(user.id)
    db.session.execute(update(OneTimeCode).where(OneTimeCode.id == code_id, OneTimeCode.attempts < MAX_TRIES)
                       .values(attempts=OneTimeCode.attempts + 1))
    if not own_device:
        _record_failure(user, purpose, now)


# No account has this id: the stand-in of `verify_without_account`.
NO_USER_ID = 0


def verify_without_account(purpose: str, object_key: str, code: str, *, now: datetime | None = None) -> None:
    """Raise WrongCode for a phone that has no account, after the work `verify` does for a wrong
    code (its queries, a write, the hash and a commit), so the answer's time does not tell the two
    apart. The statements find no rows; nothing is stored."""
    now = now or utcnow()
    mark = durable.mark()
    _lock_user(NO_USER_ID)
    _locked(NO_USER_ID, purpose, now)
    _live_code(NO_USER_ID, purpose, object_key, now)
    hmac.compare_digest(_digest(NO_USER_ID, purpose, object_key, "----"),
                        _digest(NO_USER_ID, purpose, object_key, (code or "").strip()))
    _failures_towards_lock(NO_USER_ID, purpose, now)
    durable.keep(mark, redo=lambda: None)
    raise WrongCode(_l("Wrong or expired code."), field="code")


def _record_failure(user: User, purpose: str, now: datetime) -> None:
    db.session.add(OtpFailure(user_id=user.id, purpose=purpose, failed_at=now))
    db.session.flush()
    if _failures_towards_lock(user.id, purpose, now) >= LOCK_AFTER_FAILURES:
        db.session.add(OtpLock(user_id=user.id, purpose=purpose, created_at=now,
                               locked_until=now + timedelta(seconds=LOCK_SECONDS)))
        if user.phone:
            _sms(user, LOCK_NOTICE)
