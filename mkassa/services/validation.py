"""Field rules shared by every form: phones, INN, MCC, account numbers, names, e-mail."""
from __future__ import annotations

import re
from datetime import date

import phonenumbers
from flask_babel import lazy_gettext as _l

from ..models.merchant import ACCOUNT_NUMBER_MAX, DISPLAY_NAME_MAX, INN_LENGTH, MCC_LENGTH

KG_REGION = "KG"
EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FieldError(ValueError):
    """A single field's rule was broken; the message is translated."""


def phone(value: str) -> str:
    """A Kyrgyz mobile number in E.164 (+996…), from '0555 123 456', '+996 555 123456', '555123456'…"""
    raw = (value or "").strip()
    if not raw:
        raise FieldError(_l("Enter a phone number."))
    try:
        number = phonenumbers.parse(raw, KG_REGION)
    except phonenumbers.NumberParseException:
        raise FieldError(_l("Enter a Kyrgyz phone number, for example +996 555 123 456.")) from None
    if number.country_code != 996 or not phonenumbers.is_valid_number(number):
        raise FieldError(_l("Enter a Kyrgyz phone number, for example +996 555 123 456."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def inn(value: str, *, person: bool = False) -> str:
    """A 14-digit INN. A person's starts with 1 or 2 (sex) and then the birth date DDMMYYYY."""
    digits = (value or "").strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) == INN_LENGTH):
        raise FieldError(_l("The INN has 14 digits."))
    if digits[0] in "12":
        try:
            born = date(int(digits[5:9]), int(digits[3:5]), int(digits[1:3]))
        except ValueError:
            raise FieldError(_l("This INN does not contain a valid date of birth.")) from None
        if born > date.today():
            raise FieldError(_l("This INN does not contain a valid date of birth."))
    elif person:
        raise FieldError(_l("A person's INN starts with 1 or 2."))
    return digits


def mcc(value: str) -> str:
    code = (value or "").strip()
    if not (code.isascii() and code.isdigit() and len(code) == MCC_LENGTH):
        raise FieldError(_l("The MCC has exactly 4 digits."))
    return code


def account_number(value: str) -> str:
    number = (value or "").replace(" ", "").strip()
    if not (number.isascii() and number.isdigit() and 0 < len(number) <= ACCOUNT_NUMBER_MAX):
        raise FieldError(_l("Enter the account number: digits only, at most %(n)s.", n=ACCOUNT_NUMBER_MAX))
    return number


def text(value: str, *, maximum: int, required: bool = True) -> str:
    cleaned = " ".join((value or "").split())
    if required and not cleaned:
        raise FieldError(_l("This field is required."))
    if len(cleaned) > maximum:
        raise FieldError(_l("At most %(n)s characters.", n=maximum))
    return cleaned


def display_name(value: str) -> str:
    """The payee name in the QR (ELQR tag 59): short, and only characters every bank app can show."""
    cleaned = text(value, maximum=DISPLAY_NAME_MAX)
    if any(ord(c) > 0xFFFF or not c.isprintable() for c in cleaned):
        raise FieldError(_l("Use letters, digits and common punctuation only."))
    return cleaned


def email(value: str) -> str:
    address = (value or "").strip()
    if len(address) > EMAIL_MAX or not _EMAIL.match(address):
        raise FieldError(_l("Enter a valid e-mail address."))
    return address


def collect(rules: dict[str, tuple], data: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """Apply `rules` {field: (fn, kwargs)} to `data`; return the clean values and every error."""
    clean: dict[str, object] = {}
    errors: dict[str, str] = {}
    for field, (fn, kwargs) in rules.items():
        try:
            clean[field] = fn(data.get(field, ""), **kwargs)
        except FieldError as exc:
            errors[field] = str(exc)
    return clean, errors
