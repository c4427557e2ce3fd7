"""The card-number masker (#12.8): every Luhn-valid 13-19 digit number is masked, nothing else changes."""
from __future__ import annotations

import re

import pytest

from hypothesis import example, given
from hypothesis import strategies as st

from mkassa.pan import KEEP_FIRST, KEEP_LAST, PAN_MAX_DIGITS, PAN_MIN_DIGITS, luhn_valid, mask_pans


def check_digit(body: str) -> str:
    return next(d for d in "0123456789" if luhn_valid(body + d))


pans = st.integers(PAN_MIN_DIGITS - 1, PAN_MAX_DIGITS - 1).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n)).map(lambda body: body + check_digit(body))
# Text around a card number: anything but digits, spaces and dashes (which would join it to more digits).
around = st.text(st.characters(blacklist_characters="0123456789 -", blacklist_categories=("Cs",)), max_size=20)


@st.composite
def written(draw, pan_strategy=pans):
    """A PAN as people and systems write it: plain, or in groups split by one space or dash."""
    pan = draw(pan_strategy)
    cuts = sorted(draw(st.sets(st.integers(1, len(pan) - 1), max_size=5)))
    separator = draw(st.sampled_from([" ", "-"]))
    groups = [pan[a:b] for a, b in zip([0, *cuts], [*cuts, len(pan)])]
    return pan, separator.join(groups)


def digits_of(text: str) -> str:
    return re.sub(r"[ -]", "", text)


@given(written(), around, around)
@example(("4111111111111111", "4111 1111 1111 1111"), "card ", " declined")
@example(("378282246310005", "3782-822463-10005"), '{"card_mask": "', '"}')
@example(("4222222222222", "4222222222222"), "", "")
def test_a_card_number_never_survives(pan_written, before, after):
    pan, text = pan_written
    masked = mask_pans(before + text + after)
    assert pan not in digits_of(masked)
    assert masked.startswith(before) and masked.endswith(after)
    middle = masked[len(before):len(masked) - len(after)]
    kept = [c for c in middle if c.isdigit()]
    assert "".join(kept) == pan[:KEEP_FIRST] + pan[len(pan) - KEEP_LAST:]  # what PCI DSS allows to show
    assert middle.count("*") == len(pan) - KEEP_FIRST - KEEP_LAST


@given(written(), written(), st.sampled_from([" ", "-", " 2026-11-30 ", ", ", " exp 12/29 "]))
def test_two_card_numbers_next_to_each_other_and_to_dates_are_both_masked(first, second, glue):
    masked = mask_pans(first[1] + glue + second[1])
    assert first[0] not in digits_of(masked) and second[0] not in digits_of(masked)


@given(st.text(max_size=120))
@example("4111111111111111")
@example("+996 700 123 456, 2026-11-30T06:40:26+06:00, amount 12345")
def test_masking_changes_only_digits_into_stars_and_is_done_once(text):
    masked = mask_pans(text)
    assert len(masked) == len(text)
    assert all(m == t or (m == "*" and t in "0123456789") for m, t in zip(masked, text))
    assert mask_pans(masked) == masked  # nothing maskable is left


@given(st.integers(PAN_MIN_DIGITS, PAN_MAX_DIGITS).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)))
def test_numbers_that_are_not_card_numbers_stay(number):
    if not luhn_valid(number):
        assert mask_pans(f"ref {number}.") == f"ref {number}."


@given(st.text("0123456789 -", max_size=40))
def test_fewer_than_thirteen_digits_are_never_touched(text):
    if sum(c.isdigit() for c in text) < PAN_MIN_DIGITS:
        assert mask_pans(text) == text


def test_phone_numbers_dates_and_amounts_stay_readable():
    text = '{"phone": "+996 700 123 456", "paid_at": "2026-11-30T06:40:26+06:00", "amount": 123450}'
    assert mask_pans(text) == text


def test_the_length_limits_hold_at_their_boundaries():
    """12 and 20 digits are not card numbers even when they pass the Luhn check; 13 and 19 are."""
    for length in (PAN_MIN_DIGITS - 1, PAN_MIN_DIGITS, PAN_MAX_DIGITS, PAN_MAX_DIGITS + 1):
        number = "4" * (length - 1)
        number += check_digit(number)
        masked = mask_pans(f"n={number};")
        assert (masked != f"n={number};") == (PAN_MIN_DIGITS <= length <= PAN_MAX_DIGITS), length


# ------------------------------------------------------------------- masked cards (#15, item 4)
from mkassa.pan import has_pan, is_card_mask  # noqa: E402


@given(written())
def test_a_written_card_number_is_found_and_is_never_a_mask(case):
    pan, text = case
    assert has_pan(f"card {text}.")
    assert not is_card_mask(text)


@st.composite
def masks(draw):
    """A masked card as MPOS writes it: up to the first six and the last four digits shown."""
    length = draw(st.integers(PAN_MIN_DIGITS, PAN_MAX_DIGITS))
    first = draw(st.integers(0, KEEP_FIRST))
    last = draw(st.integers(0, KEEP_LAST))
    places = (draw(st.text("0123456789", min_size=first, max_size=first)) + "*" * (length - first - last)
              + draw(st.text("0123456789", min_size=last, max_size=last)))
    cuts = sorted(draw(st.sets(st.integers(1, length - 1), max_size=4)))
    separator = draw(st.sampled_from([" ", "-"]))
    return separator.join(places[a:b] for a, b in zip([0, *cuts], [*cuts, length]))


@given(masks())
@example("4169 **** **** 1234")
@example("416958******1234")
def test_a_mask_showing_six_and_four_at_most_is_taken_and_holds_no_card_number(mask):
    assert is_card_mask(mask)
    assert not has_pan(mask)


@given(masks(), st.integers(0, 20))
def test_showing_one_digit_more_than_allowed_is_refused(mask, where):
    places = mask.replace(" ", "").replace("-", "")
    hidden = [i for i, c in enumerate(places) if c == "*"]
    first_star, last_star = hidden[0], hidden[-1]
    # reveal the digit next to the visible start or end: beyond six first or four last, or one star left
    reveal = first_star if where % 2 else last_star
    revealed = places[:reveal] + "7" + places[reveal + 1:]
    shown_first = len(revealed) - len(revealed.lstrip("0123456789"))
    shown_last = len(revealed) - len(revealed.rstrip("0123456789"))
    if "*" in revealed and shown_first <= KEEP_FIRST and shown_last <= KEEP_LAST:
        assert is_card_mask(revealed)
    else:
        assert not is_card_mask(revealed)


@pytest.mark.parametrize("text", ["", "****", "4169 **** **** 12345", "41695812******1234", "4169 ** 1234",
                                  "4169 **** **** 1234 ", "4169  **** **** 1234", "4169 ****\u00a0**** 1234",
                                  "4169 **x* **** 1234", "*" * 33])
def test_what_is_not_a_masked_card(text):
    assert not is_card_mask(text)
