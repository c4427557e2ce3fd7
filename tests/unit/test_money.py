"""mkassa.money: parsing what people type, formatting per locale, the limits at their boundaries."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mkassa.money import (
    MAX_AMOUNT,
    MAX_AMOUNT_DIGITS,
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
    MoneyError,
    format_amount,
    parse_amount,
    to_decimal_str,
)

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
        ("1,234.50", MSG_AMBIGUOUS),
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


def test_errors_are_value_errors_without_params_by_default() -> None:
    with pytest.raises(ValueError) as raised:
        parse_amount("x")
    assert isinstance(raised.value, MoneyError) and raised.value.params == {}


@pytest.mark.parametrize(
    ("tyiyn", "locale", "currency", "text"),
    [
        (123450, "ru", True, f"1{NBSP}234,50{NBSP}сом"),
        (123450, "ky", True, f"1{NBSP}234,50{NBSP}сом"),
        (123450, "en", True, f"1,234.50{NBSP}som"),
        (123450, "ru", False, f"1{NBSP}234,50"),
        (123450, "en", False, "1,234.50"),
        (0, "ru", True, f"0,00{NBSP}сом"),
        (5, "ru", True, f"0,05{NBSP}сом"),
        (-123450, "ru", True, f"-1{NBSP}234,50{NBSP}сом"),
        (-5, "en", False, "-0.05"),
        (MAX_AMOUNT, "ru", False, f"99{NBSP}999{NBSP}999{NBSP}999,99"),
        (100000, "ru_KG", True, f"1{NBSP}000,00{NBSP}сом"),
        (100000, "en-US", False, "1,000.00"),
        (100000, "de", False, f"1{NBSP}000,00"),  # unknown language: the app's default, Russian
    ],
)
def test_format(tyiyn: int, locale: str, currency: bool, text: str) -> None:
    assert format_amount(tyiyn, locale, currency=currency) == text


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


@given(amounts, st.sampled_from(["ru", "ky"]), st.booleans())
def test_ru_and_ky_output_parses_back(tyiyn: int, locale: str, currency: bool) -> None:
    assert parse_amount(format_amount(tyiyn, locale, currency=currency)) == tyiyn


@given(amounts, st.booleans())
def test_en_output_parses_back_once_its_comma_grouping_is_spaced(tyiyn: int, currency: bool) -> None:
    # By design the parser refuses comma grouping (`1,234` is ambiguous); the rest of the en format
    # (point decimal, "som") reads back.
    shown = format_amount(tyiyn, "en", currency=currency)
    assert parse_amount(shown.replace(",", " ")) == tyiyn


@given(amounts)
def test_decimal_str_parses_back(tyiyn: int) -> None:
    assert parse_amount(to_decimal_str(tyiyn)) == tyiyn


@given(st.text(max_size=40) | st.text(alphabet="0123456789 ,.-сомSOMkgs\u00a0\u202f\u2009", max_size=40))
def test_any_text_gives_an_amount_or_a_money_error(text: str) -> None:
    try:
        tyiyn = parse_amount(text)
    except MoneyError as error:
        assert str(error)
    else:
        assert 0 < tyiyn <= MAX_AMOUNT
