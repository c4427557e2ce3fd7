"""Forgot password (M2), forgot PIN (M3) and send password (M5.8): an SMS code, then a new
password and a new PIN for this device. Every other session and device loses access."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import User
from . import Invalid, devices, otp
from .auth import check_new_password, set_password

PURPOSE = "password"
OBJECT_KEY = "password"
otp.register_purpose(PURPOSE, _l("MKASSA access recovery code: %(code)s. It is valid for 5 minutes. "
                                 "Never tell it to anyone, not even the Bank."))


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
          user_agent: str | None = None) -> str:
    """New password and PIN once the code is right: returns this device's new credential.

    The new values are checked first, so a typo in them never costs a try of the code. `user` is
    None when the phone is unknown: the answer is then the same as for a wrong code.
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
    if user is None:
        raise otp.WrongCode(_l("Wrong or expired code."), field="code")
    otp.verify(user, PURPOSE, OBJECT_KEY, code)
    set_password(user, password)  # ends every session and device of the user
    device = devices.start(user, pin, user_agent)
    return devices.confirm(device, pin)
