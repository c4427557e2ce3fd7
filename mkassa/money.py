"""Money: an int number of tyiyn (1 som = 100 tyiyn), parsed from what people type, formatted per locale.

No floats anywhere: 0.1 + 0.2 is not 0.3, and a bank cannot lose a tyiyn to binary fractions.

Pure: the locale's number symbols (`Symbols`: thousands separator, decimal separator, currency word)
are passed in; `formatting.money_symbols()` takes them from Babel for the request's locale. What is
shown in a locale can be typed back in that locale: `1 234,50 сом` in ru and ky, `1,234.50 som` in en.
Input is forgiving where it cannot be misread: any kind of space groups thousands in every locale, and
the other decimal mark is accepted when it cannot be a thousands separator (`1234.5` in ru, `12,5` in
en). Where it could be either (`1,234` in ru), the parser refuses rather than guesses: a payment form
must ask. Forms prefill their inputs with `to_decimal_str()`, which every locale parses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

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

NBSP = "\u00a0"
# Spaces people (and copy-paste from other apps, e.g. Babel's ru output) put between thousands.
GROUPING_SPACES = (" ", NBSP, "\u202f", "\u2009")
MINUS_SIGNS = ("-", "\u2212")


def N_(message: str) -> str:
    """Mark a message for translation without translating it (Babel keyword N_)."""
    return message


# Examples are amounts in tyiyn (params), so each reader sees them written the way his locale writes.
MSG_REQUIRED = N_("Enter an amount, for example %(example)s")
MSG_NOT_A_NUMBER = N_("Enter the amount in digits, for example %(example)s")
MSG_TOO_LONG = N_("The amount is too long")
MSG_AMBIGUOUS = N_("Use one decimal separator, for the tyiyn only, for example %(example)s")
MSG_GROUPING = N_("Group thousands by three digits, for example %(example)s")
MSG_TOO_MANY_DECIMALS = N_("Use at most two digits for the tyiyn, for example %(example)s")
MSG_NOT_POSITIVE = N_("The amount must be greater than zero")
MSG_TOO_LARGE = N_("The amount is too large")
MSG_OVER_MAXIMUM = N_("The amount must not exceed %(maximum)s")
EXAMPLE_SMALL = 12345  # 123,45
EXAMPLE = 123450  # 1 234,50
EXAMPLE_LARGE = 123456789  # 1 234 567,89


@dataclass(frozen=True)
class Symbols:
    """How a locale writes amounts: thousands separator, decimal separator, currency word."""

    group: str
    decimal: str
    unit: str


# The app's default language; Kyrgyz writes amounts the same way.
RU = Symbols(NBSP, ",", "сом")


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
_DECIMAL_MARKS = (",", ".")
# Whole som: plain digits, or groups of three after a 1-3 digit head, one space apart.
_WHOLE = re.compile(r"[0-9]+|[0-9]{1,3}(?: [0-9]{3})+")
_DIGITS = re.compile(r"[0-9]+")
_GROUP_OF_THREE = re.compile(r"[0-9]{3}(?:\D|\Z)")


def parse_amount(text: str, *, maximum: int | None = None, symbols: Symbols = RU) -> int:
    """Read a positive amount typed by a person in the locale of `symbols`; return tyiyn.

    Raises only MoneyError. Accepts what `format_amount` shows in that locale, with or without the
    currency word (`сом`/`som`/`KGS`), thousands grouped by any space (space, NBSP, narrow NBSP, thin
    space) or by the locale's separator, and the other decimal mark where it cannot be a thousands
    separator. `maximum` is an optional upper bound in tyiyn.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise MoneyError(MSG_TOO_LONG)
    cleaned = _UNIT.sub("", text.strip()).strip().translate(_SPACES)
    if not cleaned:
        raise MoneyError(MSG_REQUIRED, example=EXAMPLE_SMALL)
    negative = cleaned.startswith(MINUS_SIGNS)
    if negative:
        cleaned = cleaned[1:].lstrip()
    if not cleaned or not _ALLOWED.issuperset(cleaned):
        raise MoneyError(MSG_NOT_A_NUMBER, example=EXAMPLE)
    whole, fraction = _split(cleaned, symbols)
    if not whole or (fraction is not None and not _DIGITS.fullmatch(fraction)):
        raise MoneyError(MSG_GROUPING if fraction and " " in fraction else MSG_NOT_A_NUMBER,
                         example=EXAMPLE_LARGE if fraction and " " in fraction else EXAMPLE)
    if not _WHOLE.fullmatch(whole):
        raise MoneyError(MSG_GROUPING, example=EXAMPLE_LARGE)
    fraction = fraction or ""
    if len(fraction) > 2:
        raise MoneyError(MSG_TOO_MANY_DECIMALS, example=EXAMPLE)
    tyiyn = int(whole.replace(" ", "")) * TYIYN_PER_SOM + int(fraction.ljust(2, "0"))
    if negative or tyiyn == 0:
        raise MoneyError(MSG_NOT_POSITIVE)
    if tyiyn > MAX_AMOUNT:
        raise MoneyError(MSG_TOO_LARGE)
    if maximum is not None and tyiyn > maximum:
        raise MoneyError(MSG_OVER_MAXIMUM, maximum=maximum)
    return tyiyn


def _split(cleaned: str, symbols: Symbols) -> tuple[str, str | None]:
    """Whole som (thousands spaced by " ") and the tyiyn digits (None without a decimal mark).

    `cleaned` holds only digits, " ", "," and ".". A mark that is the locale's thousands separator
    (the comma in en) groups when every one is followed by exactly three digits; a single one that
    is not (`12,5`) can only be a decimal mark and is read as one.
    """
    group = symbols.group.translate(_SPACES)
    decimal = symbols.decimal if symbols.decimal in _DECIMAL_MARKS else ","
    other = "." if decimal == "," else ","
    if group == other:
        if cleaned.count(decimal) > 1:
            raise MoneyError(MSG_AMBIGUOUS, example=EXAMPLE)
        whole, separator, fraction = cleaned.partition(decimal)
        if other in fraction:
            raise MoneyError(MSG_AMBIGUOUS, example=EXAMPLE)
        groups = whole.split(other)
        if not separator and len(groups) == 2 and not _GROUP_OF_THREE.match(groups[1]) and " " not in groups[1]:
            return groups[0], groups[1]
        if len(groups) > 1 and any(" " in part for part in groups):
            raise MoneyError(MSG_GROUPING, example=EXAMPLE_LARGE)
        return " ".join(groups), fraction if separator else None
    if cleaned.count(".") + cleaned.count(",") > 1:
        raise MoneyError(MSG_AMBIGUOUS, example=EXAMPLE)
    whole, separator, fraction = cleaned.replace(other, decimal).partition(decimal)
    return whole, fraction if separator else None


def format_amount(tyiyn: int, symbols: Symbols = RU, *, currency: bool = True) -> str:
    """`1 234,50 сом` (ru, ky: NBSP grouping) or `1,234.50 som` (en); always two decimals.

    The space before the currency word is an NBSP in every language, so the word never wraps away
    from its number.
    """
    som, rest = divmod(abs(_require_int(tyiyn)), TYIYN_PER_SOM)
    number = f"{'-' if tyiyn < 0 else ''}{som:,}".replace(",", symbols.group) + f"{symbols.decimal}{rest:02d}"
    return f"{number}{NBSP}{symbols.unit}" if currency else number


def to_decimal_str(tyiyn: int) -> str:
    """`1234.50`: locale-free, for Excel cells, input prefills and ELQR display."""
    som, rest = divmod(abs(_require_int(tyiyn)), TYIYN_PER_SOM)
    return f"{'-' if tyiyn < 0 else ''}{som}.{rest:02d}"


def _require_int(tyiyn: int) -> int:
    # A float or Decimal here means someone computed money outside tyiyn: fail loudly, never round.
    if isinstance(tyiyn, bool) or not isinstance(tyiyn, int):
        raise TypeError(f"amount must be an int number of tyiyn, not {type(tyiyn).__name__}")
    return tyiyn
