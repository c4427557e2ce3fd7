"""mkassa.elqr against specs/elqr.md: production vectors, the rules one by one, and properties."""
import hashlib
import re
from dataclasses import replace
from urllib.parse import quote, quote_from_bytes, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mkassa.elqr import (
    AdditionalField,
    Elqr,
    ElqrError,
    build,
    checksum_ok,
    compute_checksum,
    expected_checksum,
    parse,
)

MBANK = (
    "https://app.mbank.kg/qr/#00020101021132440012c2c.mbank.kg010202101299655418551913021252049999"
    "53034175909KIRILL%20B.63047129"
)
OBANK = (
    "https://api.dengi.o.kg/#00020101021132680012p2p.dengi.kg0104858011125577259258211012996554185519"
    "1202121302123409%D0%9A%D0%98%D0%A0%D0%98%D0%9B%D0%9B%20%D0%91.52047399530341754065556005906"
    "O%21Bank630485D0"
)
HEAD = "000201010211"  # version 01, static
DYNAMIC = "000201010212"
SERVICE = "32" + "16" + "0004demo01040001"  # provider "demo", service "0001"


def tlv(id_: str, value: str) -> str:
    return f"{id_}{len(value.encode('utf-16-le')) // 2:02d}{value}"


def signed(payload: str) -> str:
    """A bare fragment (not percent-encoded) with its correct checksum appended."""
    return payload + tlv("63", compute_checksum(payload))


def fragment(link: str) -> str:
    return unquote(link.partition("#")[2])


# ------------------------------------------------------------------------------ production vectors


def test_mbank_person_to_person_vector() -> None:
    assert parse(MBANK) == Elqr(
        type="static",
        provider_id="c2c.mbank.kg",
        service_code="02",
        recipient_id="996554185519",
        recipient_editable=False,
        mcc="9999",
        currency="417",
        name="KIRILL B.",
        checksum="7129",
    )
    assert checksum_ok(MBANK)


def test_obank_fixed_amount_vector() -> None:
    assert parse(OBANK) == Elqr(
        type="static",
        provider_id="p2p.dengi.kg",
        service_code="8580",
        transaction_id="557725925821",
        recipient_id="996554185519",
        amount_editable=False,
        recipient_editable=False,
        comment="КИРИЛЛ Б.",
        mcc="7399",
        currency="417",
        amount=555600,
        name="O!Bank",
        checksum="85D0",
    )
    assert checksum_ok(OBANK)


@pytest.mark.parametrize(
    "tampered",
    [
        MBANK.replace("996554185519", "996554185518"),
        MBANK.replace("63047129", "63047128"),
        OBANK.replace("5556", "5557"),
        OBANK.replace("630485D0", "630485D1"),
    ],
)
def test_one_changed_digit_breaks_the_checksum(tampered: str) -> None:
    assert parse(tampered)  # still well-formed
    assert not checksum_ok(tampered)


def test_checksum_compares_case_insensitively() -> None:
    assert checksum_ok(OBANK.replace("630485D0", "630485d0"))
    assert expected_checksum(OBANK) == "85D0"


@pytest.mark.parametrize(
    "link",
    [
        fragment(MBANK),  # bare fragment, decoded
        MBANK.partition("#")[2],  # bare fragment, encoded
        "https://qr.finik.kg#" + MBANK.partition("#")[2],  # '#' right after the host
        "https://pay.payqr.kg/?a=b#" + MBANK.partition("#")[2],
        "#" + fragment(MBANK),
    ],
)
def test_link_forms(link: str) -> None:
    assert parse(link) == parse(MBANK)
    assert checksum_ok(link)


def test_element_order_does_not_matter_and_the_checksum_covers_the_order_found() -> None:
    service = tlv("00", "p2p.dengi.kg") + tlv("01", "8580")
    ordered = signed(HEAD + tlv("32", service) + tlv("52", "7399") + tlv("53", "417") + tlv("54", "555600"))
    shuffled_service = tlv("32", tlv("01", "8580") + tlv("00", "p2p.dengi.kg"))
    shuffled = signed(tlv("54", "555600") + tlv("53", "417") + tlv("52", "7399") + shuffled_service + HEAD)
    assert parse(shuffled) == replace(parse(ordered), checksum=parse(shuffled).checksum)
    assert checksum_ok(shuffled) and checksum_ok(ordered)
    assert expected_checksum(shuffled) != expected_checksum(ordered)


def test_checksum_element_may_stand_anywhere() -> None:
    first, rest = HEAD, SERVICE + tlv("59", "Shop")
    link = first + tlv("63", compute_checksum(first + rest).lower()) + rest
    assert parse(link).name == "Shop" and checksum_ok(link)


def test_colon_in_free_text() -> None:
    link = signed(HEAD + SERVICE + tlv("34", "Заказ: 12:30") + tlv("59", "Shop: A"))
    decoded = parse(link)
    assert (decoded.comment, decoded.name) == ("Заказ: 12:30", "Shop: A")
    assert checksum_ok(link)


def test_unescaped_non_ascii_in_the_fragment_reads_too() -> None:
    assert parse("https://app.mbank.kg/qr/#" + fragment(OBANK)) == parse(OBANK)


def test_unknown_elements_are_kept() -> None:
    service = tlv("32", tlv("00", "demo") + tlv("01", "1") + tlv("05", "x"))
    link = signed(HEAD + service + tlv("27", "later: maybe") + tlv("33", tlv("07", "y")))
    assert parse(link).unknown == {"32/05": "x", "27": "later: maybe", "33/07": "y"}
    rebuilt = fragment(build(parse(link)))  # written back in ascending id order, inside their templates
    assert rebuilt.startswith(HEAD + "2712later: maybe" + service + "33050701y")


def test_static_amount_zero_means_no_amount() -> None:
    assert parse(signed(HEAD + SERVICE + tlv("54", "0"))).amount is None


def test_additional_fields() -> None:
    subs = tlv("00", "acc:Лицевой счёт:12345:Account:11") + tlv("01", "k:l:v:t:12")
    assert parse(signed(HEAD + SERVICE + tlv("36", subs))).additional == [
        AdditionalField("acc", "Лицевой счёт", "12345", "Account", True, "36"),
        AdditionalField("k", "l", "v", "t", False, "36"),
    ]


def test_lengths_count_utf16_code_units_when_parsing() -> None:
    assert tlv("59", "🙂🙂") == "5904🙂🙂"
    assert parse(signed(HEAD + SERVICE + "5904🙂🙂")).name == "🙂🙂"
    with pytest.raises(ElqrError, match="element 59 ends inside a character"):
        parse(signed(HEAD + SERVICE + "5901🙂"))


# -------------------------------------------------------------------------------- parse errors


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("", "field 00 (version): missing"),
        ("000201010211329x", "offset 14: length '9x' is not two digits"),
        ("000201ab02", "offset 6: id 'ab' is not two digits"),
        ("0002010", "offset 6: id '0' is not two digits"),
        ("0002010102", "offset 6: element 01 needs 2 characters, 0 left"),
        ("000201000201", "offset 6: element 00 appears twice"),
        (HEAD + tlv("32", tlv("00", "a") + tlv("00", "b")), "offset 21: element 32/00 appears twice"),
        (signed(HEAD + "32040000"), "field 32/00 (provider_id): missing"),  # empty reads as absent
        (signed("000202010211" + SERVICE), "offset 0: field 00 (version): must be '01'"),
        (signed("000201010213" + SERVICE), "offset 6: field 01 (type): must be '11' (static) or '12'"),
        (signed(HEAD), "field 32 (service template): missing"),
        (HEAD + SERVICE, "field 63 (checksum): missing"),
        (HEAD + SERVICE + "6304XYZ1", "offset 32: field 63 (checksum): must be 4 hex digits"),
        (signed(HEAD + tlv("32", tlv("01", "1"))), "field 32/00 (provider_id): missing"),
        (signed(HEAD + tlv("32", tlv("00", "demo"))), "field 32/01 (service_code): missing"),
        (signed(HEAD + tlv("32", tlv("00", "demo") + tlv("01", "1") + tlv("12", "13"))),
         "offset 29: field 32/12 (amount_editable): must be '11' (yes) or '12' (no)"),
        (signed(HEAD + SERVICE + tlv("52", "999")), "offset 32: field 52 (mcc): must be 4 digits"),
        (signed(HEAD + SERVICE + tlv("53", "41a")), "offset 32: field 53 (currency): must be 3 digits"),
        (signed(HEAD + SERVICE + tlv("54", "12.5")), "offset 32: field 54 (amount): must be 1 to 13"),
        (signed(HEAD + SERVICE + tlv("54", "1" * 14)), "offset 32: field 54 (amount): must be 1 to 13"),
        (signed(HEAD + SERVICE + tlv("54", "")), "offset 32: field 54 (amount): must be 1 to 13"),
        (signed(DYNAMIC + SERVICE + tlv("54", "0")), "field 54 (amount): a dynamic link needs an amount"),
        (signed(DYNAMIC + SERVICE), "field 54 (amount): a dynamic link needs an amount"),
        (signed(HEAD + SERVICE + tlv("59", "Ж" * 26)), "offset 32: field 59 (name): longer than 25"),
        (signed(HEAD + tlv("32", tlv("00", "p" * 33) + tlv("01", "1"))),
         "offset 16: field 32/00 (provider_id): longer than 32 characters"),
        (signed(HEAD + SERVICE + tlv("35", tlv("00", "a:b:c"))),
         "offset 36: field 35 (additional): sub-element 35/00 is not key:label:value:title:11|12"),
        (signed(HEAD + SERVICE + tlv("35", tlv("00", "a:b:c:d:13"))), "offset 36: field 35 (additional)"),
        ("#00020101%4", "fragment offset 8: '%' is not followed by two hex digits"),
        ("#0002%C3%28", "fragment: not valid UTF-8"),
        ("0002\ud800", "fragment: not valid UTF-8"),
    ],
)
def test_parse_errors_name_the_offset_or_field(link: str, message: str) -> None:
    with pytest.raises(ElqrError) as raised:
        parse(link)
    assert str(raised.value).startswith(message)
    assert not checksum_ok(link)


# ------------------------------------------------------------------------------------- building

PAYMENT = Elqr(
    type="dynamic",
    provider_id="c2b.mbank.kg",
    service_code="0001",
    recipient_id="1240020001234567",
    transaction_id="01JDQ0V6X3M1ZK8Y2T5R7W9NBC",
    recipient_editable=False,
    mcc="5812",
    amount=12345,
    name="Кафе Ала-Тоо!",
)


def test_build_a_payment_link_as_mkassa_shows_it() -> None:
    link = build(PAYMENT)
    service = "0012c2b.mbank.kg" "01040001" "10161240020001234567" "112601JDQ0V6X3M1ZK8Y2T5R7W9NBC"
    service += "120212" "130212"  # amount and recipient fixed
    body = DYNAMIC + "3286" + service + "52045812" "5303417" "540512345" "5913Кафе Ала-Тоо!"
    checksum = hashlib.sha256(body.encode()).hexdigest()[-4:].upper()  # upper case, by choice
    assert link == "https://app.mbank.kg/qr/#" + quote(body, safe="") + "6304" + checksum
    name = "%D0%9A%D0%B0%D1%84%D0%B5%20%D0%90%D0%BB%D0%B0-%D0%A2%D0%BE%D0%BE%21"
    assert link.endswith(f"5913{name}6304{checksum}")
    assert parse(link) == replace(PAYMENT, amount_editable=False, checksum=checksum)
    assert checksum_ok(link)


def test_build_reproduces_the_production_links_from_their_fields() -> None:
    assert build(parse(MBANK)) == MBANK


def test_build_with_a_merchant_id_needs_no_service_code() -> None:
    value = Elqr(provider_id="qr.dcb.kg", merchant_id="M-1", service_name="Касса 1")
    link = build(value, "https://qr.dcb.kg/")
    assert parse(link).merchant_id == "M-1" and parse(link).service_code is None


def test_build_percent_encodes_all_but_unreserved_characters() -> None:
    link = build(Elqr(provider_id="a-b.c_d~e", service_code="1", comment="x y!:#%/?&+=", name="Ё"))
    assert "0009a-b.c_d~e" in link
    assert "3412x%20y%21%3A%23%25%2F%3F%26%2B%3D" in link
    assert "5901%D0%81" in link
    assert parse(link).comment == "x y!:#%/?&+="


def test_lengths_count_utf16_code_units_when_building() -> None:
    base = Elqr(provider_id="demo", service_code="1")
    assert "5925" + "Ж" * 25 in fragment(build(replace(base, name="Ж" * 25)))
    with pytest.raises(ElqrError, match=r"^field 59 \(name\): longer than 25 characters$"):
        build(replace(base, name="Ж" * 26))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider_id": None}, "field 32/00 (provider_id): required"),
        ({"service_code": None}, "field 32/01 (service_code): required unless merchant_id (33/00) is set"),
        ({"name": "🙂"}, "field 59 (name): character U+1F642 is outside the Basic Multilingual Plane"),
        ({"comment": "a\ud800"}, "field 34 (comment): lone surrogate U+D800 is not text"),
        ({"name": ""}, "field 59 (name): empty; use None to leave it out"),
        ({"comment": 5}, "field 34 (comment): must be text or None"),
        ({"recipient_id": "9" * 33}, "field 32/10 (recipient_id): longer than 32 characters"),
        ({"type": "instant"}, "field 01 (type): must be 'static' or 'dynamic'"),
        ({"version": "02"}, "field 00 (version): must be '01'"),
        ({"amount_editable": "yes"}, "field 32/12 (amount_editable): must be True, False or None"),
        ({"mcc": "123"}, "field 52 (mcc): must be 4 digits"),
        ({"mcc": 5812}, "field 52 (mcc): must be 4 digits"),
        ({"mcc": "５８１２"}, "field 52 (mcc): must be 4 digits"),
        ({"currency": "KGS"}, "field 53 (currency): must be 3 digits"),
        ({"type": "dynamic"}, "field 54 (amount): required on a dynamic link"),
        ({"amount": 0}, "field 54 (amount): must be an int number of tyiyn greater than zero"),
        ({"amount": -100}, "field 54 (amount): must be an int"),
        ({"amount": 12.5}, "field 54 (amount): must be an int"),
        ({"amount": True}, "field 54 (amount): must be an int"),
        ({"amount": 10**13}, "field 54 (amount): longer than 13 digits"),
        ({"additional": [AdditionalField("k", "l", "a:b", "t", template="36")]},
         "field 36 (additional): 'a:b' contains ':', which separates the parts"),
        ({"additional": [AdditionalField(template="40")]}, "field 35 (additional): each item must be"),
        ({"additional": [AdditionalField(visible=None)]},  # type: ignore[arg-type]
         "field 35 (additional): visible must be True or False"),
        ({"additional": [AdditionalField("k" * 30, "l" * 30, "v" * 30, "t" * 30)]},
         "field 35/00 (additional): longer than 99 characters once encoded"),
        ({"unknown": {"52": "x"}}, "field 52 (mcc): not an element id this codec leaves free"),
        ({"unknown": {"7": "x"}}, "field 7 (unknown): not an element id"),
        ({"unknown": {"35/01": "x"}}, "field 35/01 (additional): not an element id"),
        ({"unknown": {"27": ""}}, "field 27 (unknown): empty"),
        ({"provider_id": "p" * 32, "recipient_id": "r" * 32, "transaction_id": "t" * 32},
         "field 32 (service template): longer than 99 characters once encoded"),
    ],
)
def test_build_refuses_invalid_fields(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ElqrError) as raised:
        build(replace(Elqr(provider_id="demo", service_code="1"), **changes))  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_build_refuses_a_base_url_with_a_hash_and_non_elqr_values() -> None:
    with pytest.raises(ElqrError, match="base_url"):
        build(Elqr(provider_id="demo", service_code="1"), "https://x.kg/#")
    with pytest.raises(ElqrError, match="expected an Elqr"):
        build("000201")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- properties

# BMP text without surrogates, weighted towards what payees write: Cyrillic (Kyrgyz letters
# included), spaces, punctuation that must be percent-encoded, and the `:` of free text.
bmp_char = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))
friendly_char = st.sampled_from("АаБбЖжЁёҢңӨөҮүKIRILL B.kg 0123456789!:#%&+/?~-_")


def text(max_size: int, *, min_size: int = 1, colon: bool = True) -> st.SearchStrategy[str]:
    alphabet = st.one_of(bmp_char, friendly_char)
    if not colon:
        alphabet = alphabet.filter(lambda char: char != ":")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def optional(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | strategy


additional_fields = st.lists(
    st.builds(
        AdditionalField,
        key=text(3, min_size=0, colon=False),
        label=text(3, min_size=0, colon=False),
        value=text(3, min_size=0, colon=False),
        title=text(3, min_size=0, colon=False),
        visible=st.booleans(),
        template=st.sampled_from(["35", "36", "37", "38", "39"]),
    ),
    max_size=4,  # 4 sub-elements of ≤ 22 units each always fit a template's 99
).map(lambda items: sorted(items, key=lambda item: item.template))  # build emits them by template


FREE_IDS = ["02", "27", "51", "62", "99", "32/05", "33/02"]  # ids the codec keeps as unknown


@st.composite
def elqr_values(draw: st.DrawFn) -> Elqr:
    dynamic = draw(st.booleans())
    # Four 32-templated texts of ≤ 16 units and two flags stay under the template's 99.
    value = Elqr(
        type="dynamic" if dynamic else "static",
        provider_id=draw(text(16)),
        service_code=draw(optional(text(16))),
        recipient_id=draw(optional(text(16))),
        transaction_id=draw(optional(text(16))),
        amount_editable=draw(st.none() | st.booleans()),
        recipient_editable=draw(st.none() | st.booleans()),
        merchant_id=draw(optional(text(32))),
        service_name=draw(optional(text(32))),
        comment=draw(optional(text(32))),
        additional=draw(additional_fields),
        mcc=draw(optional(st.integers(0, 9999).map("{:04d}".format))),
        currency=draw(st.just("417") | st.integers(0, 999).map("{:03d}".format)),
        amount=draw(st.integers(1, 10**13 - 1) if dynamic else st.none() | st.integers(1, 10**13 - 1)),
        name=draw(optional(text(25))),
        unknown=draw(st.dictionaries(st.sampled_from(FREE_IDS), text(20))),
    )
    if value.service_code is None and value.merchant_id is None:
        value.service_code = draw(text(16))
    return value


# Five times the profile's examples: 500 under `ci`, 100 under `dev` (tests/conftest.py).
@settings(max_examples=5 * settings().max_examples)
@given(elqr_values())
def test_build_then_parse_round_trips(value: Elqr) -> None:
    link = build(value)
    assert re.fullmatch(r"https://app\.mbank\.kg/qr/#[A-Za-z0-9._~%-]+", link)
    decoded = parse(link)
    editable = value.amount_editable
    if value.type == "dynamic" and editable is None:
        editable = False  # build() fixes a dynamic link's amount unless told otherwise
    assert decoded == replace(value, checksum=decoded.checksum, amount_editable=editable)
    assert decoded.checksum == expected_checksum(link) and checksum_ok(link)
    assert build(decoded) == link


@given(st.text())
def test_any_text_parses_or_raises_elqr_error(link: str) -> None:
    try:
        parse(link)
    except ElqrError:
        pass
    assert checksum_ok(link) in (True, False)


@given(st.binary(), st.sampled_from(["latin-1", "utf-8 surrogateescape", "percent"]))
def test_any_bytes_parse_or_raise_elqr_error(data: bytes, how: str) -> None:
    if how == "percent":
        link = "https://app.mbank.kg/qr/#" + quote_from_bytes(data, safe="")
    else:
        encoding, _, errors = how.partition(" ")
        link = data.decode(encoding, errors or "strict")
    try:
        parse(link)
    except ElqrError:
        pass
    assert checksum_ok(link) in (True, False)


@given(
    st.lists(
        st.tuples(st.sampled_from(["00", "01", "32", "33", "34", "35", "52", "53", "54", "59", "63", "80"]),
                  text(12)),
        max_size=12,
    )
)
def test_well_framed_garbage_parses_or_raises_elqr_error(elements: list[tuple[str, str]]) -> None:
    link = "".join(tlv(id_, value) for id_, value in elements)
    try:
        parse(link)
    except ElqrError:
        pass


@given(st.sampled_from([MBANK, OBANK]), st.integers(0, 300), st.integers(0, 3), text(3, min_size=0))
def test_mutated_production_links_parse_or_raise_elqr_error(
    link: str, at: int, cut: int, insert: str
) -> None:
    body = fragment(link)
    at %= len(body)
    mutated = body[:at] + insert + body[at + cut :]
    try:
        parse(mutated)
    except ElqrError:
        pass
    assert checksum_ok(mutated) in (True, False)
