"""Device-bound quick access (M1.3): a PIN per device, a random device credential in a cookie.

The credential proves "this browser", the PIN proves "its owner"; neither alone opens a session.
Creating a PIN takes two steps: `start()` stores the first entry (argon2) on a pending row, and
`confirm()` activates it when the repeat matches, only then issuing the credential. The view
keeps the credential in a long-lived HttpOnly cookie; only its SHA-256 is stored.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from .. import durable
from ..extensions import db
from ..models import Device, Merchant, Passkey, User, utcnow
from ..models.merchant import QUICK_LOCK_DEFAULT_MINUTES, QUICK_LOCK_MAX_MINUTES, QUICK_LOCK_MIN_MINUTES
from . import Invalid, audit
from .auth import hash_password, notify, verify_password

DEVICE_COOKIE = "mkassa_device"
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600
PIN_LENGTH = 4
MAX_WRONG_PINS = 5
PENDING_PIN_SECONDS = 10 * 60
NAME_MAX = 300

# PINs anyone would try first: repeated digits, straight runs, keypad lines, and popular picks.
TRIVIAL_PINS = frozenset(
    [d * PIN_LENGTH for d in "0123456789"]
    + ["0123", "1234", "2345", "3456", "4567", "5678", "6789", "7890",
       "9876", "8765", "7654", "6543", "5432", "4321", "3210", "0987",
       "1212", "2121", "1122", "1313", "6969", "1004", "2000", "2580", "0852", "1470", "7410",
       "3690", "0963", "1357", "2468", "1010", "2020", "1230", "4554", "0007", "1984", "1342"])

PIN_SET_NOTICE = _l("MKASSA: quick access with a PIN was set up on a device. If it was not you, call the Bank.")
DEVICE_LOCKED_NOTICE = _l("MKASSA: 5 wrong PINs in a row. Quick access on that device is switched off; "
                          "sign in with your password.")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_pin(pin: str) -> str:
    """The PIN if it may be used; Invalid({"pin": message}) otherwise."""
    pin = (pin or "").strip()
    if not (pin.isascii() and pin.isdigit() and len(pin) == PIN_LENGTH):
        raise Invalid({"pin": _l("The PIN has exactly %(n)s digits.", n=PIN_LENGTH)})
    if pin in TRIVIAL_PINS:
        raise Invalid({"pin": _l("This PIN is too easy to guess. Choose another one.")})
    return pin


def start(user: User, pin: str, user_agent: str | None = None, *, now: datetime | None = None) -> Device:
    """First entry of a new PIN: a pending device row, not usable until confirmed."""
    pin = check_pin(pin)
    now = now or utcnow()
    # Abandoned first entries of this user go: at most one pending row at a time.
    db.session.execute(delete(Device).where(Device.user_id == user.id, Device.activated_at.is_(None)))
    device = Device(user_id=user.id, pin_hash=hash_password(pin), name=(user_agent or "")[:NAME_MAX], created_at=now)
    db.session.add(device)
    db.session.flush()
    return device


def pending(user: User, public_id: str | None, *, now: datetime | None = None) -> Device | None:
    if not public_id:
        return None
    now = now or utcnow()
    return db.session.scalar(select(Device).where(
        Device.public_id == public_id, Device.user_id == user.id, Device.activated_at.is_(None),
        Device.revoked_at.is_(None), Device.created_at > now - timedelta(seconds=PENDING_PIN_SECONDS)))


def confirm(device: Device, pin: str, *, replaces: Device | None = None, now: datetime | None = None) -> str:
    """The repeat matched: activate the device and return its credential (the cookie's value).

    A mismatch deletes the pending row (the user starts over) and raises Invalid.
    """
    now = now or utcnow()
    if not verify_password(device.pin_hash, (pin or "").strip()):
        db.session.delete(device)
        db.session.flush()
        raise Invalid({"pin": _l("The PINs do not match. Enter a new PIN again.")})
    if replaces is not None and replaces.id != device.id:
        revoke(replaces, now=now)
    token = secrets.token_urlsafe(32)
    device.token_hash = _token_hash(token)
    device.activated_at = now
    device.last_used_at = now
    notify(device.user, PIN_SET_NOTICE)
    db.session.flush()
    return token


def load(token: str | None) -> Device | None:
    """The active device for a cookie value, or None (unknown, revoked, or its user deactivated)."""
    if not token:
        return None
    device = db.session.scalar(select(Device).where(Device.token_hash == _token_hash(token)))
    if device is None or device.revoked_at is not None or device.activated_at is None or not device.user.active:
        return None
    return device


def unlock(device: Device, pin: str, *, now: datetime | None = None) -> bool:
    """True when the PIN is right (the counter resets). A wrong PIN stays counted although the
    request then fails and rolls back (`durable.keep`); the MAX_WRONG_PINS-th in a row revokes the
    device.

    The try is counted before the PIN is checked, under a lock on the device row held until the
    count is committed: parallel guesses queue one behind the other (an attacker's burst slows only
    himself), each sees the count and the revocation of the one before, so exactly MAX_WRONG_PINS
    wrong PINs are ever evaluated and no PIN, right or wrong, is checked after that.
    """
    now = now or utcnow()
    mark = durable.mark()
    locked = _lock_for_try(device.id)
    if locked is None:
        return False
    if verify_password(locked.pin_hash, (pin or "").strip()):
        locked.failed_pins = 0
        locked.last_used_at = now
        return True
    _wrong_pin(locked, now)
    durable.keep(mark, redo=lambda: _redo_wrong_pin(device.id, now))
    return False


def _lock_for_try(device_id: int) -> Device | None:
    """The device row, locked and with this try counted; None when it takes no more tries."""
    locked = db.session.scalar(select(Device).where(Device.id == device_id).with_for_update()
                               .execution_options(populate_existing=True))
    if locked is None or locked.revoked_at is not None or locked.failed_pins >= MAX_WRONG_PINS:
        return None
    locked.failed_pins += 1
    db.session.flush()
    return locked


def _wrong_pin(locked: Device, now: datetime) -> None:
    if locked.failed_pins >= MAX_WRONG_PINS:
        revoke(locked, now=now)
        notify(locked.user, DEVICE_LOCKED_NOTICE)


def _redo_wrong_pin(device_id: int, now: datetime) -> None:
    """The wrong try again, alone in a fresh transaction (the caller's work was rolled back)."""
    locked = _lock_for_try(device_id)
    if locked is not None:
        _wrong_pin(locked, now)


def revoke(device: Device, *, now: datetime | None = None) -> None:
    if device.revoked_at is None:
        device.revoked_at = now or utcnow()


def quick_lock_after(device: Device) -> timedelta:
    """How long the app on this device may stay out of sight before its PIN is asked again: the
    merchant's choice (the owner sets it for everyone of the shop)."""
    merchant = device.user.merchant
    return timedelta(minutes=merchant.quick_lock_minutes if merchant else QUICK_LOCK_DEFAULT_MINUTES)


def set_quick_lock(merchant: Merchant, minutes: str, actor: User) -> None:
    raw = (minutes or "").strip()
    if not (raw.isascii() and raw.isdigit() and QUICK_LOCK_MIN_MINUTES <= int(raw) <= QUICK_LOCK_MAX_MINUTES):
        raise Invalid({"minutes": _l("Choose from %(low)d to %(high)d minutes.", low=QUICK_LOCK_MIN_MINUTES,
                                     high=QUICK_LOCK_MAX_MINUTES)})
    merchant.quick_lock_minutes = int(raw)
    audit.record(actor, "merchant.quick_lock", merchant_id=merchant.id, obj=merchant)


def forget(device: Device, *, now: datetime | None = None) -> None:
    """Sign-out's "forget this phone": its PIN and the passkeys added on it stop opening the app."""
    now = now or utcnow()
    revoke(device, now=now)
    db.session.execute(update(Passkey).where(Passkey.device_id == device.id, Passkey.revoked_at.is_(None))
                       .values(revoked_at=now))


def revoke_all(user: User, *, now: datetime | None = None) -> None:
    """Every device of a user loses quick access at once (deactivation, new password)."""
    db.session.execute(update(Device).where(Device.user_id == user.id, Device.revoked_at.is_(None))
                       .values(revoked_at=now or utcnow()))


def active_for(user: User) -> list[Device]:
    return list(db.session.scalars(select(Device).where(
        Device.user_id == user.id, Device.activated_at.is_not(None), Device.revoked_at.is_(None))
        .order_by(Device.activated_at.desc())))


def get_own(user: User, public_id: str) -> Device | None:
    """A device of this user only: another user's id is simply not found."""
    return db.session.scalar(select(Device).where(Device.public_id == public_id, Device.user_id == user.id))
