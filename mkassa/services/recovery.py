"""Forgot password (M2), forgot PIN (M3) and send password (M5.8): an SMS code, then a new
password and a new PIN for this device. Every other session and device loses access."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import Device, User
from . import Invalid, devices, otp, outbox, throttle
from .auth import check_new_password, set_password
from .throttle import Rule

PURPOSE = "password"
OBJECT_KEY = "password"
CODE_JOB = "recovery.code"
otp.register_purpose(PURPOSE, _l("MKASSA access recovery code: %(code)s. It is valid for 5 minutes. "
                                 "Never tell it to anyone, not even the Bank."))


# Recovery needs only a phone number, so its limits must not let a stranger lock the owner out:
# - the owner's own device (quick access set up on it, even if the PIN is forgotten) has limits of
#   its own and is stopped neither by the account's 24-hour lock nor by the phone's hourly limit;
# - any other browser is limited by its address first, then by the phone number (code requests) or
#   the account (wrong codes: otp.LOCK_AFTER_FAILURES a day, then a 24-hour lock and an SMS).
#   One address gets fewer wrong codes a day (CODE_ADDRESS) than the lock needs, and fewer code
#   requests an hour (RECOVER_ADDRESS) than the phone's limit: one stranger alone locks nothing.
# The phone's limit counts every number typed, registered or not, so its message tells nobody
# whether a number has an account.
# Guess budget per account and day: otp.LOCK_AFTER_FAILURES (10) wrong codes from all other
# browsers, plus CODE_DEVICE.limit (10) per own device, each guess 1 in 10^4: about 0.1 % a day.
RECOVER_ADDRESS = Rule("recover.address", 3, 60 * 60, _l(
    "Too many code requests from this network. No code was sent. Try again in %(wait)s."))
RECOVER_PHONE = Rule("recover.phone", otp.MAX_CODES_PER_HOUR, otp.CODES_WINDOW_SECONDS, _l(
    "The limit of codes for this number is reached. No new code was sent. Try again in %(wait)s."))
RECOVER_DEVICE = Rule("recover.device", otp.MAX_CODES_PER_HOUR, otp.CODES_WINDOW_SECONDS, RECOVER_PHONE.message)
CODE_ADDRESS = Rule("code.address", otp.LOCK_AFTER_FAILURES // 2, otp.FAILURE_WINDOW_SECONDS, _l(
    "Too many wrong codes from this network. Try again in %(wait)s."))
CODE_DEVICE = Rule("code.device", otp.LOCK_AFTER_FAILURES, otp.FAILURE_WINDOW_SECONDS, _l(
    "Too many wrong codes on this device. Try again in %(wait)s."))


def _own(device: Device | None, user: User | None) -> bool:
    return device is not None and user is not None and device.user_id == user.id


def request_code(phone: str, address: str | None, device: Device | None) -> None:
    """Ask for a recovery code for `phone`; raises throttle.Throttled (for any number alike) when a
    limit is reached.

    The request does the same work whether or not an account has this phone, so neither its answer
    nor its timing tells them apart: it counts the attempt and queues one outbox job. The job finds
    the account, if any, and sends the code (`_send_code`).
    """
    # Whether the browser is the phone owner's own device: known from its cookie, not from a lookup.
    own = device is not None and device.user.phone == phone
    if own:
        throttle.begin((RECOVER_DEVICE, f"device:{device.id}"))
    else:
        throttle.begin((RECOVER_ADDRESS, f"address:{address or ''}"), (RECOVER_PHONE, f"phone:{phone}"))
    # Every request counts (each may send an SMS): the attempt is never forgotten.
    outbox.enqueue(CODE_JOB, {"phone": phone, "device_id": device.id if own else None})


@outbox.handler(CODE_JOB)
def _send_code(payload: dict, msg) -> None:
    user = user_for_phone(payload["phone"])
    if user is None:
        return
    device = db.session.get(Device, payload["device_id"]) if payload.get("device_id") else None
    try:
        otp.issue(user, PURPOSE, OBJECT_KEY, own_device=_own(device, user), limit_per_phone=False)
    except (otp.Locked, otp.NoPhone):
        pass  # the same as for a phone nobody has: nothing is sent


def user_for_phone(phone: str) -> User | None:
    """The active merchant user with this phone (the oldest account, if a phone is shared)."""
    return db.session.scalar(select(User).where(User.phone == phone, User.active.is_(True),
                                                User.role != "admin").order_by(User.id).limit(1))


def send_code(user: User) -> None:
    """Raises otp.NoPhone / otp.TooManyCodes / otp.Locked."""
    otp.issue(user, PURPOSE, OBJECT_KEY)


def check_new_pin(pin: str, repeat: str) -> str:
    pin = devices.check_pin(pin)
    if pin != (repeat or "").strip():
        raise Invalid({"pin_repeat": _l("The PINs do not match.")})
    return pin


def reset(user: User | None, code: str, password: str, password_repeat: str, pin: str, pin_repeat: str,
          user_agent: str | None = None, *, address: str | None = None, device: Device | None = None) -> str:
    """New password and PIN once the code is right: returns this device's new credential.

    The new values are checked first, so a typo in them never costs a try of the code. `user` is
    None when the phone is unknown: the answer is then the same as for a wrong code. The try is
    counted (by device, or by address) before the code is checked; raises throttle.Throttled.
    """
    errors: dict[str, str] = {}
    for field_check in (lambda: check_new_password(user.login if user else "", password, password_repeat),
                        lambda: check_new_pin(pin, pin_repeat)):
        try:
            field_check()
        except Invalid as exc:
            errors.update(exc.errors)
    if errors:
        raise Invalid(errors)
    own = _own(device, user)
    attempt = throttle.begin((CODE_DEVICE, f"device:{device.id}") if own else (CODE_ADDRESS, f"address:{address or ''}"))
    if user is None:
        otp.verify_without_account(PURPOSE, OBJECT_KEY, code)
    otp.verify(user, PURPOSE, OBJECT_KEY, code, own_device=own)
    throttle.forget(attempt)
    set_password(user, password)  # ends every session and device of the user
    new_device = devices.start(user, pin, user_agent)
    return devices.confirm(new_device, pin)
