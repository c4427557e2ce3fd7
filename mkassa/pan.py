"""Card numbers (PANs) never stored: mask them in text from outside before it is kept or logged.

A PAN is 13 to 19 digits passing the Luhn check, written plain or in groups separated by one space or
dash ("4111 1111 1111 1111", "4111-1111-1111-1111"). Every run of such groups is searched for
consecutive groups that form one (so a number next to a date or a phone number is still found), and
all its digits but the first six and the last four (what PCI DSS allows to be shown) become "*".
Separators and every other character stay where they are, so the text keeps its length and shape.

Pure module: no Flask.
"""
from __future__ import annotations

import re

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19
KEEP_FIRST = 6
KEEP_LAST = 4
MASK = "*"

# Digit groups joined by single spaces or dashes; `[0-9]` (ASCII) only: other digits are not card numbers.
_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if index % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _pan_spans(run: str) -> list[tuple[int, int]]:
    """(start, end) of the digits of each PAN in one run, as offsets into the run."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    spans = []
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += run[groups[last][0]:groups[last][1]]
            if len(digits) > PAN_MAX_DIGITS:
                break
            if len(digits) >= PAN_MIN_DIGITS and luhn_valid(digits):
                spans.append((groups[first][0], groups[last][1]))
    return spans


def _mask_run(run: str) -> str:
    hidden = bytearray(len(run))  # 1: a digit to hide
    for start, end in _pan_spans(run):
        positions = [i for i in range(start, end) if run[i].isdigit()]
        for i in positions[KEEP_FIRST:len(positions) - KEEP_LAST]:
            hidden[i] = 1
    if not any(hidden):
        return run
    return "".join(MASK if hide else char for char, hide in zip(run, hidden))


def mask_pans(text: str) -> str:
    """`text` with every card number masked (`4111 11** **** 1111`); anything else unchanged."""
    if sum(map(str.isdigit, text)) < PAN_MIN_DIGITS:
        return text  # the common case, cheaply (map: no Python frame per character)
    return _RUN.sub(lambda m: _mask_run(m.group()) if len(m.group()) >= PAN_MIN_DIGITS else m.group(), text)


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask_pans(text)


def has_pan(text: str) -> bool:
    """True when `text` holds a card number (a Luhn-valid run of 13 to 19 digits, as `mask_pans` finds)."""
    return mask_pans(text) != text


# A masked card as MPOS shows it ("4169 **** **** 1234", "416901******1234"): 13 to 19 places, digits
# only in the first KEEP_FIRST and the last KEEP_LAST, the rest hidden; groups split by a space or dash.
CARD_MASK_MAX_LENGTH = 32
_MASK_SHAPE = re.compile(r"[0-9*]+(?:[ -][0-9*]+)*")
_MASK_PLACES = re.compile(r"([0-9]{0,%d})(\*+)([0-9]{0,%d})" % (KEEP_FIRST, KEEP_LAST))


def is_card_mask(text: str) -> bool:
    """True when `text` is a masked card showing at most the first six and the last four digits."""
    if len(text) > CARD_MASK_MAX_LENGTH or not _MASK_SHAPE.fullmatch(text):
        return False
    places = text.replace(" ", "").replace("-", "")
    return PAN_MIN_DIGITS <= len(places) <= PAN_MAX_DIGITS and _MASK_PLACES.fullmatch(places) is not None
