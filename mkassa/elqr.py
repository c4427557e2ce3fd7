"""ELQR, Kyrgyzstan's national payment QR (specs/elqr.md): parse, verify and build links.

A link is `BASE#FRAGMENT`; the fragment, percent-decoded as UTF-8, is a run of TLV elements: a
two-digit id, a two-digit length, then that many characters. Lengths count UTF-16 code units because
the banks' JavaScript apps count that way, and every offset in an error message counts the same way
in the decoded fragment. Templates 32, 33 and 35-39 nest TLV in their value.

parse() is lenient where real producers differ (any element order, an empty element reads as absent,
`0` as "no amount" on a static link, unknown ids kept); build() is strict and canonical, so that
parse(build(x)) gives x back. ElqrError is the only exception raised, for any input.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal, NoReturn
from urllib.parse import quote, unquote_to_bytes

VERSION = "01"
KGS = "417"
DEFAULT_BASE_URL = "https://app.mbank.kg/qr/"
MAX_LENGTH = 99  # the length prefix has two decimal digits
MAX_TEXT_LENGTH = 32  # ids, codes, references, comment
MAX_NAME_LENGTH = 25  # element 59, the payee's display name
MAX_AMOUNT_DIGITS = 13  # element 54, tyiyn
MCC_DIGITS = 4
CURRENCY_DIGITS = 3
CHECKSUM_LENGTH = 4

LinkType = Literal["static", "dynamic"]
_TYPES: dict[str, LinkType] = {"11": "static", "12": "dynamic"}
_TYPE_CODES = {kind: code for code, kind in _TYPES.items()}
_FLAGS = {"11": True, "12": False}
_SERVICE, _MERCHANT, _CHECKSUM = "32", "33", "63"
_ADDITIONAL_IDS = ("35", "36", "37", "38", "39")

# Free-text elements: (path, Elqr attribute, most UTF-16 units). 32/01 is ≤ 10 in the spec, but real
# producers use 14 and more, so it is accepted up to 32 like its neighbours.
_TEXT_FIELDS = (
    ("32/00", "provider_id", MAX_TEXT_LENGTH),
    ("32/01", "service_code", MAX_TEXT_LENGTH),
    ("32/10", "recipient_id", MAX_TEXT_LENGTH),
    ("32/11", "transaction_id", MAX_TEXT_LENGTH),
    ("33/00", "merchant_id", MAX_TEXT_LENGTH),
    ("33/01", "service_name", MAX_TEXT_LENGTH),
    ("34", "comment", MAX_TEXT_LENGTH),
    ("59", "name", MAX_NAME_LENGTH),
)
_FLAG_FIELDS = (("32/12", "amount_editable"), ("32/13", "recipient_editable"))
# Names in error messages: the Elqr attribute, so a caller can map an error to its form field.
_NAMES = {
    "00": "version",
    "01": "type",
    _SERVICE: "service template",
    _MERCHANT: "merchant template",
    **{path: name for path, name, _ in _TEXT_FIELDS},
    **dict(_FLAG_FIELDS),
    **{template: "additional" for template in _ADDITIONAL_IDS},
    "52": "mcc",
    "53": "currency",
    "54": "amount",
    _CHECKSUM: "checksum",
}


class ElqrError(ValueError):
    """A link or an Elqr value that breaks the format; the message names the offset or the field."""


@dataclass
class AdditionalField:
    """One `key:label:value:title:visible_state` sub-element of templates 35-39."""

    key: str = ""
    label: str = ""
    value: str = ""
    title: str = ""
    visible: bool = True
    template: str = "35"


@dataclass
class Elqr:
    """Every element of a link, decoded. None means absent; amount is int tyiyn."""

    type: LinkType = "static"
    provider_id: str | None = None
    service_code: str | None = None
    recipient_id: str | None = None
    transaction_id: str | None = None
    amount_editable: bool | None = None  # absent means yes
    recipient_editable: bool | None = None  # absent means yes
    merchant_id: str | None = None
    service_name: str | None = None
    comment: str | None = None
    additional: list[AdditionalField] = field(default_factory=list)
    mcc: str | None = None
    currency: str = KGS
    amount: int | None = None
    name: str | None = None
    version: str = VERSION
    checksum: str | None = None  # as found by parse(); build() always computes its own
    # Elements this codec does not know, kept rather than refused so newer producers still scan:
    # top-level "27" or in-template "32/02" → value.
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Element:
    path: str  # "59", or "32/01" inside a template
    value: str
    offset: int  # UTF-16 code units from the start of the decoded fragment
    raw: str  # id + length + value exactly as found: what the checksum covers


def _fail(path: str, problem: str, offset: int | None = None) -> NoReturn:
    where = f"offset {offset}: " if offset is not None else ""
    name = _NAMES.get(path) or _NAMES.get(path.partition("/")[0], "unknown")  # "35/00": additional
    raise ElqrError(f"{where}field {path} ({name}): {problem}")


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _digits(text: str, count: int | None = None) -> bool:
    # Not str.isdigit(): that also accepts "²" and Arabic-Indic digits, which no bank would read.
    return re.fullmatch(r"[0-9]+" if count is None else f"[0-9]{{{count}}}", text) is not None


# ---------------------------------------------------------------------------------------- parsing


def _fragment(link: str) -> str:
    """The percent-decoded text after the first `#` (or the whole input when there is no `#`)."""
    if not isinstance(link, str):
        raise ElqrError("link: expected text")
    _, hash_sign, fragment = link.partition("#")
    fragment = fragment if hash_sign else link
    # Like JavaScript's decodeURIComponent, which the banks' apps use: a stray `%` is an error.
    stray = re.search(r"%(?![0-9A-Fa-f]{2})", fragment)
    if stray:
        raise ElqrError(f"fragment offset {stray.start()}: '%' is not followed by two hex digits")
    try:
        return unquote_to_bytes(fragment).decode("utf-8")
    except UnicodeError as error:  # invalid UTF-8 after decoding, or a lone surrogate before it
        raise ElqrError(f"fragment: not valid UTF-8 ({error.reason})") from None


def _elements(text: str, offset: int = 0, parent: str = "") -> dict[str, _Element]:
    """Split TLV text into elements keyed by id, in their order of appearance."""
    data = text.encode("utf-16-le")  # two bytes per code unit: lengths and offsets count units
    units, position = len(data) // 2, 0
    found: dict[str, _Element] = {}
    while position < units:
        at = offset + position
        # surrogatepass: a header may hold half a surrogate pair; the digit checks then refuse it.
        header = data[2 * position : 2 * position + 8].decode("utf-16-le", "surrogatepass")
        id_, length = header[:2], header[2:]
        if not _digits(id_, 2):
            raise ElqrError(f"offset {at}: id {id_!r} is not two digits")
        if not _digits(length, 2):
            raise ElqrError(f"offset {at + 2}: length {length!r} is not two digits")
        path = f"{parent}/{id_}" if parent else id_
        start, end = position + 4, position + 4 + int(length)
        if end > units:
            left = units - start
            raise ElqrError(f"offset {at}: element {path} needs {int(length)} characters, {left} left")
        try:
            value = data[2 * start : 2 * end].decode("utf-16-le")
        except UnicodeDecodeError:
            raise ElqrError(f"offset {at}: element {path} ends inside a character") from None
        if id_ in found:
            raise ElqrError(f"offset {at}: element {path} appears twice")
        found[id_] = _Element(path, value, at, header + value)
        position = end
    return found


def _top_level(link: str) -> dict[str, _Element]:
    return _elements(_fragment(link))


def parse(link: str) -> Elqr:
    """Decode a full link or a bare fragment. Does not verify the checksum: see checksum_ok()."""
    top = _top_level(link)
    flat: dict[str, _Element] = {}  # known elements by path, templates 32 and 33 flattened
    unknown: dict[str, str] = {}
    additional: list[AdditionalField] = []
    for id_, element in top.items():
        if id_ in (_SERVICE, _MERCHANT):
            flat[id_] = element
            for sub in _elements(element.value, element.offset + 4, id_).values():
                if sub.path in _NAMES:
                    flat[sub.path] = sub
                else:
                    unknown[sub.path] = sub.value
        elif id_ in _ADDITIONAL_IDS:
            subs = _elements(element.value, element.offset + 4, id_).values()
            additional += [_parse_additional(id_, sub) for sub in subs]
        elif id_ in _NAMES:
            flat[id_] = element
        else:
            unknown[id_] = element.value

    def required(path: str) -> _Element:
        if path not in flat:
            _fail(path, "missing")
        return flat[path]

    version = required("00")
    if version.value != VERSION:
        _fail("00", f"must be {VERSION!r}", version.offset)
    kind = required("01")
    if kind.value not in _TYPES:
        _fail("01", "must be '11' (static) or '12' (dynamic)", kind.offset)
    required(_SERVICE)
    checksum = required(_CHECKSUM)
    if not re.fullmatch(f"[0-9A-Fa-f]{{{CHECKSUM_LENGTH}}}", checksum.value):
        _fail(_CHECKSUM, f"must be {CHECKSUM_LENGTH} hex digits", checksum.offset)

    elqr = Elqr(type=_TYPES[kind.value], checksum=checksum.value, unknown=unknown, additional=additional)
    for path, attribute, limit in _TEXT_FIELDS:
        if path in flat and flat[path].value:  # an empty element reads as absent
            if _units(flat[path].value) > limit:
                _fail(path, f"longer than {limit} characters", flat[path].offset)
            setattr(elqr, attribute, flat[path].value)
    for path, attribute in _FLAG_FIELDS:
        if path in flat:
            if flat[path].value not in _FLAGS:
                _fail(path, "must be '11' (yes) or '12' (no)", flat[path].offset)
            setattr(elqr, attribute, _FLAGS[flat[path].value])
    if elqr.provider_id is None:
        _fail("32/00", "missing")
    if elqr.service_code is None and elqr.merchant_id is None:
        _fail("32/01", "missing, and no merchant id (33/00) stands in for it")
    if "52" in flat:
        if not _digits(flat["52"].value, MCC_DIGITS):
            _fail("52", f"must be {MCC_DIGITS} digits", flat["52"].offset)
        elqr.mcc = flat["52"].value
    if "53" in flat:
        if not _digits(flat["53"].value, CURRENCY_DIGITS):
            _fail("53", f"must be {CURRENCY_DIGITS} digits", flat["53"].offset)
        elqr.currency = flat["53"].value
    if "54" in flat:
        amount = flat["54"]
        if not _digits(amount.value) or len(amount.value) > MAX_AMOUNT_DIGITS:
            _fail("54", f"must be 1 to {MAX_AMOUNT_DIGITS} digits (tyiyn)", amount.offset)
        # Some banks write 0 on static links to mean "no amount"; a dynamic link must carry one.
        elqr.amount = int(amount.value) or None
    if elqr.type == "dynamic" and elqr.amount is None:
        _fail("54", "a dynamic link needs an amount greater than zero")
    return elqr


def _parse_additional(template: str, sub: _Element) -> AdditionalField:
    parts = sub.value.split(":")
    if len(parts) != 5 or parts[4] not in _FLAGS:
        _fail(template, f"sub-element {sub.path} is not key:label:value:title:11|12", sub.offset)
    key, label, value, title, state = parts
    return AdditionalField(key, label, value, title, _FLAGS[state], template)


# ----------------------------------------------------------------------------------- checksum


def compute_checksum(payload: str) -> str:
    """Last 4 hex digits, upper case, of SHA-256 over the UTF-8 of the elements before 63.

    Not EMVCo's CRC-16, although the layout resembles EMVCo's QR. Banks emit either case; MKASSA
    emits upper case, as O!Bank does, and every comparison ignores case.
    """
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[-CHECKSUM_LENGTH:].upper()


def expected_checksum(link: str) -> str:
    """The checksum a link should carry: over its decoded elements except 63, in their order."""
    return compute_checksum("".join(e.raw for id_, e in _top_level(link).items() if id_ != _CHECKSUM))


def checksum_ok(link: str) -> bool:
    """True only for a valid link whose checksum matches; never raises."""
    try:
        found = parse(link).checksum
        return found is not None and found.upper() == expected_checksum(link)
    except ElqrError:
        return False


# ------------------------------------------------------------------------------------- building


def build(elqr: Elqr, base_url: str = DEFAULT_BASE_URL) -> str:
    """Validate every field and write the link: elements in ascending id order, checksum in upper case.

    Everything outside the URL's unreserved characters (A-Z a-z 0-9 - . _ ~) is percent-encoded as
    UTF-8, as the banks do (space %20, `!` %21). elqr.checksum is ignored.
    """
    if not isinstance(elqr, Elqr):
        raise ElqrError("build: expected an Elqr")
    if not isinstance(base_url, str) or "#" in base_url:
        raise ElqrError("base_url: must be text without '#'")
    flat = _flatten(elqr)
    templates: dict[str, dict[str, str]] = {}
    for path, value in flat.items():
        parent, _, sub = path.partition("/")
        if sub:
            templates.setdefault(parent, {})[sub] = value
    for item in elqr.additional:  # numbered 00, 01, … within each template, in list order
        subs = templates.setdefault(_check_additional(item), {})
        state = "11" if item.visible else "12"
        subs[f"{len(subs):02d}"] = ":".join((item.key, item.label, item.value, item.title, state))
    top = {path: value for path, value in flat.items() if "/" not in path}
    for parent, subs in templates.items():
        top[parent] = "".join(_tlv(f"{parent}/{sub}", subs[sub]) for sub in sorted(subs))
    payload = "".join(_tlv(id_, top[id_]) for id_ in sorted(top))
    payload += _tlv(_CHECKSUM, compute_checksum(payload))
    return f"{base_url}#{quote(payload, safe='')}"


def _flatten(elqr: Elqr) -> dict[str, str]:
    """Every validated element value by path ("59", "32/01"), templates 35-39 excepted."""
    if elqr.version != VERSION:
        _fail("00", f"must be {VERSION!r}")
    flat = {"00": elqr.version}
    if elqr.type not in _TYPE_CODES:
        _fail("01", "must be 'static' or 'dynamic'")
    flat["01"] = _TYPE_CODES[elqr.type]
    dynamic = elqr.type == "dynamic"
    for path, attribute, limit in _TEXT_FIELDS:
        value = getattr(elqr, attribute)
        if value is not None:
            flat[path] = _check_text(path, value, limit)
    if elqr.provider_id is None:
        _fail("32/00", "required")
    if elqr.service_code is None and elqr.merchant_id is None:
        _fail("32/01", "required unless merchant_id (33/00) is set")
    for path, attribute in _FLAG_FIELDS:
        flag = getattr(elqr, attribute)
        if path == "32/12" and flag is None and dynamic:
            flag = False  # a dynamic link is a fixed amount unless explicitly made editable
        if flag is not None:
            if not isinstance(flag, bool):
                _fail(path, "must be True, False or None")
            flat[path] = "11" if flag else "12"
    if elqr.mcc is not None:
        if not isinstance(elqr.mcc, str) or not _digits(elqr.mcc, MCC_DIGITS):
            _fail("52", f"must be {MCC_DIGITS} digits")
        flat["52"] = elqr.mcc
    if not isinstance(elqr.currency, str) or not _digits(elqr.currency, CURRENCY_DIGITS):
        _fail("53", f"must be {CURRENCY_DIGITS} digits")
    flat["53"] = elqr.currency
    if elqr.amount is None:
        if dynamic:
            _fail("54", "required on a dynamic link")
    else:
        if isinstance(elqr.amount, bool) or not isinstance(elqr.amount, int) or elqr.amount <= 0:
            _fail("54", "must be an int number of tyiyn greater than zero; None for no amount")
        if elqr.amount >= 10**MAX_AMOUNT_DIGITS:
            _fail("54", f"longer than {MAX_AMOUNT_DIGITS} digits")
        flat["54"] = str(elqr.amount)
    for path, value in elqr.unknown.items():
        # Top-level "27", or "32/02" / "33/05" inside the two templates whose other ids are fields.
        if not isinstance(path, str) or not re.fullmatch(r"(?:3[23]/)?[0-9]{2}", path) or path in _NAMES:
            _fail(str(path), "not an element id this codec leaves free")
        flat[path] = _check_text(path, value, MAX_LENGTH)
    return flat


def _check_additional(item: AdditionalField) -> str:
    """Validate one additional field; return its template id."""
    if not isinstance(item, AdditionalField) or item.template not in _ADDITIONAL_IDS:
        _fail("35", "each item must be an AdditionalField with template '35' to '39'")
    for part in (item.key, item.label, item.value, item.title):
        _check_text(item.template, part, MAX_LENGTH, allow_empty=True)
        if ":" in part:
            _fail(item.template, f"{part!r} contains ':', which separates the parts")
    if not isinstance(item.visible, bool):
        _fail(item.template, "visible must be True or False")
    return item.template


def _check_text(path: str, value: object, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        _fail(path, "must be text or None")
    if not value and not allow_empty:
        _fail(path, "empty; use None to leave it out")
    for char in value:
        # Apps count UTF-16 units; outside the BMP one character is two units, and not every app agrees.
        if ord(char) > 0xFFFF:
            _fail(path, f"character U+{ord(char):X} is outside the Basic Multilingual Plane")
        if 0xD800 <= ord(char) <= 0xDFFF:
            _fail(path, f"lone surrogate U+{ord(char):X} is not text")
    if _units(value) > limit:
        _fail(path, f"longer than {limit} characters")
    return value


def _tlv(path: str, value: str) -> str:
    length = _units(value)
    if length > MAX_LENGTH:
        _fail(path, f"longer than {MAX_LENGTH} characters once encoded")
    return f"{path.rpartition('/')[2]}{length:02d}{value}"
