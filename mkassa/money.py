"""Money: an int number of tyiyn (1 som = 100 tyiyn), parsed from what people type, formatted per locale.

No floats anywhere: 0.1 + 0.2 is not 0.3, and a bank cannot lose a tyiyn to binary fractions.

Input is read the same way whatever the interface language: one decimal separator, a comma or a point,
and thousands grouped by spaces. So the same keystrokes mean the same amount for every user. An
English-style `1,234.50` is refused rather than guessed: `1,234` would be 1 234 som to one reader and
1,234 som (three decimals) to another, and a payment form must ask, not guess. The consequence: the
English display format (`1,234.50 som`) is for reading, not for typing back. Forms prefill their inputs
with `to_decimal_str()`, which every locale parses.
"""
from __future__ import annotations

import re

from . import elqr

TYIYN_PER_SOM = 100
# Every amount must fit in the ELQR payment QR (element 54: 13 digits), whatever screen it came from.
# The one ceiling of every payment kind (dynamic and static QR, card) and withdrawal: typed amounts,
# the Bank's webhooks and the databases' CHECK constraints all use it.
MAX_AMOUNT_DIGITS = elqr.MAX_AMOUNT_DIGITS
MAX_AMOUNT = 10**MAX_AMOUNT_DIGITS - 1
# The ceiling of every ledger balance and daily sum, in tyiyn: 10^15 som, far above any real money and
# far below 2^63, so that a balance plus any amount can never overflow a 64-bit integer (SQLite would
# silently turn the sum into a float).
MAX_BALANCE = 10**17
# The longest sensible input, "99 999 999 999,99 сом", is 21 characters; anything much longer is not
# an amount, and refusing it early bounds the work done on hostile input.
MAX_INPUT_LENGTH = 32

DEFAULT_LOCALE = "ru"
NBSP = "\u00a0"
# Spaces people (and copy-paste from other apps, e.g. Babel's ru output) put between thousands.
GROUPING_SPACES = (" ", NBSP, "\u202f", "\u2009")
MINUS_SIGNS = ("-", "\u2212")


def N_(message: str) -> str:
    """Mark a message for translation without translating it (Babel keyword N_)."""
    return message


MSG_REQUIRED = N_("Enter an amount, for example 123,45")
MSG_NOT_A_NUMBER = N_("Enter the amount in digits, for example 1 234,50")
MSG_TOO_LONG = N_("The amount is too long")
MSG_AMBIGUOUS = N_("Use one comma or point, for the decimals only; separate thousands with spaces")
MSG_GROUPING = N_("Group thousands by three digits, for example 1 234 567,89")
MSG_TOO_MANY_DECIMALS = N_("Use at most two digits after the comma")
MSG_NOT_POSITIVE = N_("The amount must be greater than zero")
MSG_TOO_LARGE = N_("The amount is too large")
MSG_OVER_MAXIMUM = N_("The amount must not exceed %(maximum)s")


class MoneyError(ValueError):
    """Bad amount input. str() is an English gettext msgid; params fill its %(name)s placeholders.

    Amounts in params are int tyiyn: only the caller knows the locale to format them in.
    """

    def __init__(self, message: str, **params: int) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


_SPACES = str.maketrans({space: " " for space in GROUPING_SPACES})
_UNIT = re.compile(r"\s*(?:сом|som|kgs)\Z", re.IGNORECASE)
_ALLOWED = frozenset("0123456789 .,")
# Whole som: plain digits, or groups of three after a 1-3 digit head, one space apart.
_WHOLE = re.compile(r"[0-9]+|[0-9]{1,3}(?: [0-9]{3})+")
_DIGITS = re.compile(r"[0-9]+")


def parse_amount(text: str, *, maximum: int | None = None) -> int:
    """Read a positive amount typed by a person; return tyiyn. Raises only MoneyError.

    Accepts `1234`, `1234.5`, `1234,5`, `1 234,50` (space, NBSP, narrow NBSP or thin space between
    thousands) and a trailing `сом`/`som`/`KGS`. `maximum` is an optional upper bound in tyiyn.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise MoneyError(MSG_TOO_LONG)
    cleaned = _UNIT.sub("", text.strip()).strip().translate(_SPACES)
    if not cleaned:
        raise MoneyError(MSG_REQUIRED)
    negative = cleaned.startswith(MINUS_SIGNS)
    if negative:
        cleaned = cleaned[1:].lstrip()
    if not cleaned or not _ALLOWED.issuperset(cleaned):
        raise MoneyError(MSG_NOT_A_NUMBER)
    if cleaned.count(".") + cleaned.count(",") > 1:
        raise MoneyError(MSG_AMBIGUOUS)
    whole, separator, fraction = cleaned.replace(",", ".").partition(".")
    if not whole or (separator and not _DIGITS.fullmatch(fraction)):
        raise MoneyError(MSG_GROUPING if " " in fraction else MSG_NOT_A_NUMBER)
    if not _WHOLE.fullmatch(whole):
        raise MoneyError(MSG_GROUPING)
    if len(fraction) > 2:
        raise MoneyError(MSG_TOO_MANY_DECIMALS)
    tyiyn = int(whole.replace(" ", "")) * TYIYN_PER_SOM + int(fraction.ljust(2, "0"))
    if negative or tyiyn == 0:
        raise MoneyError(MSG_NOT_POSITIVE)
    if tyiyn > MAX_AMOUNT:
        raise MoneyError(MSG_TOO_LARGE)
    if maximum is not None and tyiyn > maximum:
        raise MoneyError(MSG_OVER_MAXIMUM, maximum=maximum)
    return tyiyn


# Per language: thousands separator, decimal separator, currency word. Kyrgyz writes like Russian.
_STYLES: dict[str, tuple[str, str, str]] = {
    "ru": (NBSP, ",", "сом"),
    "ky": (NBSP, ",", "сом"),
    "en": (",", ".", "som"),
}


def format_amount(tyiyn: int, locale: str = DEFAULT_LOCALE, *, currency: bool = True) -> str:
    """`1 234,50 сом` (ru, ky: NBSP grouping) or `1,234.50 som` (en); always two decimals.

    `locale` may carry a territory (`ru_KG`, `en-US`); an unknown language falls back to Russian,
    the app's default, because a page must render rather than fail over a number. The space before
    the currency word is an NBSP in every language, so the word never wraps away from its number.
    """
    group, decimal, unit = _STYLES.get(_language(locale), _STYLES[DEFAULT_LOCALE])
    som, rest = divmod(abs(_require_int(tyiyn)), TYIYN_PER_SOM)
    number = f"{'-' if tyiyn < 0 else ''}{som:,}".replace(",", group) + f"{decimal}{rest:02d}"
    return f"{number}{NBSP}{unit}" if currency else number


def to_decimal_str(tyiyn: int) -> str:
    """`1234.50`: locale-free, for Excel cells, input prefills and ELQR display."""
    som, rest = divmod(abs(_require_int(tyiyn)), TYIYN_PER_SOM)
    return f"{'-' if tyiyn < 0 else ''}{som}.{rest:02d}"


def _language(locale: str) -> str:
    return locale.replace("-", "_").partition("_")[0].lower()


def _require_int(tyiyn: int) -> int:
    # A float or Decimal here means someone computed money outside tyiyn: fail loudly, never round.
    if isinstance(tyiyn, bool) or not isinstance(tyiyn, int):
        raise TypeError(f"amount must be an int number of tyiyn, not {type(tyiyn).__name__}")
    return tyiyn
