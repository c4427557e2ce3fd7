"""Amounts and times as people read and type them, in the current (Flask-Babel) locale.

No Jinja here: services format SMS, push and error texts with these, and `templating.py` registers
the same functions as filters, so a page and a message write an amount alike.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask_babel import format_datetime, format_time, get_locale

from .config import DEFAULT_LOCALE
from .money import Symbols, format_amount, parse_amount
from .timeutil import to_local

# The currency word per language (Babel's KGS symbols are "KGS" in ru and en: not what people write).
CURRENCY_WORDS = {"ru": "сом", "ky": "сом", "en": "som"}


@lru_cache(maxsize=16)
def _symbols(language: str) -> Symbols:
    return Symbols(get_group_symbol(language), get_decimal_symbol(language), CURRENCY_WORDS[language])


def money_symbols(locale: object = None) -> Symbols:
    """How `locale` (default: the request's) writes amounts, from Babel's CLDR data.

    A territory is ignored (`ru_KG` writes like `ru`); a language the app does not offer falls back
    to the default, because a page must render rather than fail over a number.
    """
    language = str(locale or get_locale() or DEFAULT_LOCALE).replace("-", "_").partition("_")[0].lower()
    return _symbols(language if language in CURRENCY_WORDS else DEFAULT_LOCALE)


def money(tyiyn: int | None, currency: bool = True) -> str:
    return format_amount(tyiyn or 0, money_symbols(), currency=currency)


def read_amount(text: str, maximum: int | None = None) -> int:
    """`money.parse_amount` in the request's locale: what `money` shows can be typed back."""
    return parse_amount(text, maximum=maximum, symbols=money_symbols())


def local_dt(value: datetime | None, fmt: str = "short") -> str:
    return format_datetime(to_local(value), fmt) if value else ""


def local_time(value: datetime | None) -> str:
    """The Bishkek time of day as the locale writes it (Babel's short format: "14:05", "2:05 PM")."""
    return format_time(to_local(value), "short") if value else ""
