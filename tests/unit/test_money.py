"""mkassa.money: parsing what people type, formatting per locale, the limits at their boundaries."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mkassa.config import LOCALES
from mkassa.money import (
    MAX_AMOUNT,
    MAX_AMOUNT_DIGITS,
    GROUPING_SPACES,
    MAX_INPUT_LENGTH,
    MSG_AMBIGUOUS,
    MSG_GROUPING,
    MSG_NOT_A_NUMBER,
    MSG_NOT_POSITIVE,
    MSG_OVER_MAXIMUM,
    MSG_REQUIRED,
    MSG_TOO_LARGE,
    MSG_TOO_LONG,
    MSG_TOO_MANY_DECIMALS,
    RU,
    MoneyError,
    Symbols,
    format_amount,
    parse_amount,
    to_decimal_str,
)
from mkassa.formatting import money_symbols

NBSP, NNBSP, THIN = "\u00a0", "\u202f", "\u2009"


@pytest.mark.parametrize(
    ("text", "tyiyn"),
    [
        ("1234", 123400),
        ("1234.5", 123450),
        ("1234,5", 123450),
        ("1234,50", 123450),
        ("1 234,50", 123450),
        (f"1{NBSP}234,50", 123450),
        (f"1{NNBSP}234{NNBSP}567,89", 123456789),
        (f"1{THIN}234.05", 123405),
        ("  1 234,50  ", 123450),
        ("0,01", 1),
        ("0.1", 10),
        ("007", 700),
        ("1234 сом", 123400),
        ("1 234,50 СОМ", 123450),
        (f"1{NBSP}234,50{NBSP}сом", 123450),
        ("12som", 1200),
        ("12 Som", 1200),
        ("12 KGS", 1200),
        ("12 kgs ", 1200),
        ("99 999 999 999,99", 9999999999999),
    ],
)
def test_parse_accepts(text: str, tyiyn: int) -> None:
    assert parse_amount(text) == tyiyn


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", MSG_REQUIRED),
        ("   ", MSG_REQUIRED),
        ("сом", MSG_REQUIRED),
        ("abc", MSG_NOT_A_NUMBER),
        ("12a", MSG_NOT_A_NUMBER),
        ("1e5", MSG_NOT_A_NUMBER),
        ("+5", MSG_NOT_A_NUMBER),
        ("١٢٣", MSG_NOT_A_NUMBER),  # Arabic-Indic digits: digits to str.isdigit(), not to a bank
        ("12,", MSG_NOT_A_NUMBER),
        (",5", MSG_NOT_A_NUMBER),
        ("12 dollars", MSG_NOT_A_NUMBER),
        ("1\t234", MSG_NOT_A_NUMBER),
        ("-5", MSG_NOT_POSITIVE),
        ("\u22125,00", MSG_NOT_POSITIVE),
        ("- 1 234", MSG_NOT_POSITIVE),
        ("0", MSG_NOT_POSITIVE),
        ("0,00", MSG_NOT_POSITIVE),
        ("-0", MSG_NOT_POSITIVE),
        ("1,234", MSG_TOO_MANY_DECIMALS),
        ("1.234", MSG_TOO_MANY_DECIMALS),
        ("12,345", MSG_TOO_MANY_DECIMALS),
        ("1.234,50", MSG_AMBIGUOUS),
        ("1,234.50", MSG_AMBIGUOUS),  # in ru a comma is the decimal mark: not 1 234,50 to every reader
        ("1.234.567", MSG_AMBIGUOUS),
        ("1,,5", MSG_AMBIGUOUS),
        ("12 34,5", MSG_GROUPING),
        ("1234 567", MSG_GROUPING),
        ("1  234", MSG_GROUPING),
        ("1 234 ,5", MSG_GROUPING),
        ("1,5 0", MSG_GROUPING),
        ("100 000 000 000", MSG_TOO_LARGE),
    ],
)
def test_parse_rejects_with_reason(text: str, message: str) -> None:
    with pytest.raises(MoneyError) as raised:
        parse_amount(text)
    assert str(raised.value) == message


EN = Symbols(",", ".", "som")


@pytest.mark.parametrize(
    ("text", "tyiyn"),
    [
        ("1,234.50", 123450),  # what the en screens show (#11: it was refused)
        (f"1,234.50{NBSP}som", 123450),
        ("1,234,567.89", 123456789),
        ("1,234", 123400),  # in en the comma groups thousands
        ("1 234.50", 123450),
        (f"1{NBSP}234.5", 123450),
        ("1234.5", 123450),
        ("12,5", 1250),  # a comma before fewer than three digits cannot group: it is the decimal mark
        ("12,50", 1250),
        ("0.01", 1),
    ],
)
def test_parse_accepts_english(text: str, tyiyn: int) -> None:
    assert parse_amount(text, symbols=EN) == tyiyn


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.234,50", MSG_AMBIGUOUS),
        ("1.234.567", MSG_AMBIGUOUS),
        ("1,234.5,0", MSG_AMBIGUOUS),
        ("1,23,456.00", MSG_GROUPING),
        ("1,234 567", MSG_GROUPING),
        ("1,2345", MSG_TOO_MANY_DECIMALS),
        ("1.234", MSG_TOO_MANY_DECIMALS),
        ("12,", MSG_NOT_A_NUMBER),
        ("-1,234.00", MSG_NOT_POSITIVE),
    ],
)
def test_parse_rejects_english_with_reason(text: str, message: str) -> None:
    with pytest.raises(MoneyError) as raised:
        parse_amount(text, symbols=EN)
    assert str(raised.value) == message


def test_error_examples_are_amounts_each_locale_formats_its_own_way() -> None:
    with pytest.raises(MoneyError) as raised:
        parse_amount("1 2345", symbols=EN)
    assert raised.value.params == {"example": 123456789}
    assert format_amount(raised.value.params["example"], EN, currency=False) == "1,234,567.89"


def test_babel_symbols_are_what_the_app_shows() -> None:
    assert money_symbols("en") == EN
    assert money_symbols("ru") == money_symbols("ky") == RU == Symbols(NBSP, ",", "сом")
    assert money_symbols("ru_KG") == RU and money_symbols("en-US") == EN
    assert money_symbols("de") == RU  # a language the app does not offer: the default, Russian


def test_amount_digit_limit_at_its_boundary() -> None:
    assert MAX_AMOUNT_DIGITS == 13
    assert parse_amount("99 999 999 999,99") == MAX_AMOUNT == 10**13 - 1  # 13 digits in tyiyn
    with pytest.raises(MoneyError, match=MSG_TOO_LARGE):
        parse_amount("100 000 000 000")  # 10**13 tyiyn: 14 digits


def test_input_length_limit_at_its_boundary() -> None:
    assert MAX_INPUT_LENGTH == 32
    assert parse_amount("1".rjust(32)) == 100
    with pytest.raises(MoneyError) as raised:
        parse_amount("1".rjust(33))
    assert str(raised.value) == MSG_TOO_LONG


def test_maximum_is_inclusive_and_reported_in_params() -> None:
    assert parse_amount("50", maximum=5000) == 5000
    with pytest.raises(MoneyError) as raised:
        parse_amount("50,01", maximum=5000)
    assert str(raised.value) == MSG_OVER_MAXIMUM
    assert raised.value.params == {"maximum": 5000}
    assert raised.value.message % {"maximum": "50,00"} == "The amount must not exceed 50,00"


def test_errors_are_value_errors_with_int_params() -> None:
    with pytest.raises(ValueError) as raised:
        parse_amount("x")
    assert isinstance(raised.value, MoneyError) and raised.value.params == {"example": 123450}
    with pytest.raises(MoneyError) as raised:
        parse_amount("0")
    assert raised.value.params == {}


@pytest.mark.parametrize(
    ("tyiyn", "symbols", "currency", "text"),
    [
        (123450, RU, True, f"1{NBSP}234,50{NBSP}сом"),
        (123450, money_symbols("ky"), True, f"1{NBSP}234,50{NBSP}сом"),
        (123450, EN, True, f"1,234.50{NBSP}som"),
        (123450, RU, False, f"1{NBSP}234,50"),
        (123450, EN, False, "1,234.50"),
        (0, RU, True, f"0,00{NBSP}сом"),
        (5, RU, True, f"0,05{NBSP}сом"),
        (-123450, RU, True, f"-1{NBSP}234,50{NBSP}сом"),
        (-5, EN, False, "-0.05"),
        (MAX_AMOUNT, RU, False, f"99{NBSP}999{NBSP}999{NBSP}999,99"),
                    ],
)
def test_format(tyiyn: int, symbols: Symbols, currency: bool, text: str) -> None:
    assert format_amount(tyiyn, symbols, currency=currency) == text


def test_format_default_is_russian() -> None:
    assert format_amount(0) == f"0,00{NBSP}сом"


@pytest.mark.parametrize(("tyiyn", "text"), [(123450, "1234.50"), (0, "0.00"), (7, "0.07"), (-7, "-0.07")])
def test_to_decimal_str(tyiyn: int, text: str) -> None:
    assert to_decimal_str(tyiyn) == text


@pytest.mark.parametrize("bad", [1.5, True, None, "100"])
def test_formatting_refuses_anything_but_int(bad: object) -> None:
    with pytest.raises(TypeError):
        format_amount(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_decimal_str(bad)  # type: ignore[arg-type]


amounts = st.integers(min_value=1, max_value=MAX_AMOUNT)


@given(amounts, st.sampled_from(LOCALES), st.booleans())
def test_what_a_locale_shows_parses_back_in_that_locale(tyiyn: int, locale: str, currency: bool) -> None:
    symbols = money_symbols(locale)
    assert parse_amount(format_amount(tyiyn, symbols, currency=currency), symbols=symbols) == tyiyn


@given(amounts, st.sampled_from(LOCALES), st.sampled_from(GROUPING_SPACES))
def test_any_space_groups_thousands_in_every_locale(tyiyn: int, locale: str, space: str) -> None:
    symbols = money_symbols(locale)
    plain = Symbols(space, symbols.decimal, symbols.unit)
    assert parse_amount(format_amount(tyiyn, plain), symbols=symbols) == tyiyn


@given(amounts, st.sampled_from(LOCALES))
def test_decimal_str_parses_back_in_every_locale(tyiyn: int, locale: str) -> None:
    assert parse_amount(to_decimal_str(tyiyn), symbols=money_symbols(locale)) == tyiyn


@given(st.text(max_size=40) | st.text(alphabet="0123456789 ,.-сомSOMkgs\u00a0\u202f\u2009", max_size=40),
       st.sampled_from(LOCALES))
def test_any_text_gives_an_amount_or_a_money_error(text: str, locale: str) -> None:
    try:
        tyiyn = parse_amount(text, symbols=money_symbols(locale))
    except MoneyError as error:
        assert str(error)
    else:
        assert 0 < tyiyn <= MAX_AMOUNT


@pytest.mark.parametrize(("locale", "shown"), [("ru", "14:05"), ("ky", "14:05"), ("en", "2:05\u202fPM")])
def test_times_follow_the_locale(locale: str, shown: str) -> None:
    """#11: times were "%H:%M" in every language; Babel writes each locale's own way."""
    from datetime import datetime, timezone

    from flask import Flask
    from flask_babel import Babel, force_locale

    from mkassa.formatting import local_time
    app = Flask(__name__)
    Babel(app, default_timezone="Asia/Bishkek")
    with app.app_context(), force_locale(locale):
        assert local_time(datetime(2026, 11, 27, 8, 5, tzinfo=timezone.utc)) == shown
