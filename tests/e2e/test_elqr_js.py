"""static/js/elqr.js, the browser's ELQR builder for a QR made offline (#16), against mkassa/elqr.py.

A few hundred generated inputs, valid and not: Chromium's build must give the very link Python's
build gives (checksum by Web Crypto SHA-256 included), and refuse exactly what Python refuses.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from mkassa import elqr

pytestmark = pytest.mark.e2e

CASES = 600
SEED = 16
SOURCE = Path(elqr.__file__).parent / "static" / "js" / "elqr.js"
# Latin, Cyrillic with the Kyrgyz letters, digits, what URL-encoding treats specially, and the
# odd character out: an emoji (outside the BMP, refused) and ':' (refused inside additional fields).
ALPHABET = "abcXYZ0189 -_.~!*'()%#&=+/?ПриветКыргызстаңөүҢӨҮ«»№€"


def text(rng: random.Random, longest: int) -> str:
    n = rng.choice([1, longest - 1, longest]) if rng.random() < 0.3 else rng.randint(1, longest)
    if rng.random() < 0.02:
        n = longest + 1
    value = "".join(rng.choice(ALPHABET) for _ in range(max(n, 1)))
    if rng.random() < 0.02:
        value += "😀"
    if rng.random() < 0.02:
        value = ""
    return value


def maybe(rng: random.Random, make, chance: float = 0.6):
    return make() if rng.random() < chance else None


def case(rng: random.Random) -> dict:
    kind = rng.choice(["static", "dynamic", "dynamic"]) if rng.random() > 0.01 else "other"
    fields = {
        "type": kind,
        "provider_id": text(rng, 14) if rng.random() > 0.02 else None,
        "service_code": maybe(rng, lambda: text(rng, 14), 0.8),
        "recipient_id": maybe(rng, lambda: text(rng, 20), 0.3),
        "transaction_id": maybe(rng, lambda: text(rng, 32)),
        "amount_editable": rng.choice([None, True, False]),
        "recipient_editable": rng.choice([None, True, False]),
        "merchant_id": maybe(rng, lambda: text(rng, 20), 0.5),
        "service_name": maybe(rng, lambda: text(rng, 20), 0.3),
        "comment": maybe(rng, lambda: text(rng, 32), 0.3),
        "mcc": maybe(rng, lambda: rng.choice(["5411", "5999", "0000"] * 8 + ["541", "54a1"]), 0.7),
        "currency": rng.choice(["417"] * 20 + ["840", "41"]),
        "amount": maybe(rng, lambda: rng.choice([1, 7500, 99, rng.randint(1, 10**12), 10**13 - 1] * 5 + [10**13, 0, -5]), 0.9),
        "name": maybe(rng, lambda: text(rng, 25), 0.7),
        "additional": [
            {"key": text(rng, 6), "label": text(rng, 8), "value": text(rng, 10) + (":" if rng.random() < 0.03 else ""),
             "title": text(rng, 8), "visible": rng.random() < 0.7, "template": rng.choice(["35", "36", "39"])}
            for _ in range(rng.choice([0, 0, 0, 1, 2]))
        ],
        "unknown": rng.choice([{}] * 12 + [{"27": text(rng, 10)}, {"32/02": text(rng, 5)}, {"33/05": "x"},
                                          {"54": "1"}]),
    }
    return fields


def python_build(fields: dict) -> str | None:
    kwargs = dict(fields, additional=[elqr.AdditionalField(**item) for item in fields["additional"]])
    try:
        return elqr.build(elqr.Elqr(**kwargs))
    except elqr.ElqrError:
        return None


def test_the_browser_builds_the_same_links_as_python(page, live_server):
    rng = random.Random(SEED)
    cases = [case(rng) for _ in range(CASES)]
    expected = [python_build(fields) for fields in cases]
    built = sum(link is not None for link in expected)
    assert built >= 250 and CASES - built >= 50  # a few hundred links, and both sides of the rules
    page.goto("/offline")
    # evaluate, not a <script> tag: the page's CSP refuses inline scripts, and this is the file's text.
    page.evaluate(SOURCE.read_text(encoding="utf-8"))
    got = page.evaluate("""async (cases) => {
        const out = [];
        for (const fields of cases) {
            try { out.push(await MkassaElqr.build(fields)); }
            catch (error) {
                if (!(error instanceof MkassaElqr.ElqrError)) throw error;
                out.push(null);
            }
        }
        return out;
    }""", cases)
    mismatches = [(fields, want, have) for fields, want, have in zip(cases, expected, got) if want != have]
    assert not mismatches, mismatches[:3]
    # What the browser built, Python reads back with a good checksum.
    for link in filter(None, got):
        assert elqr.checksum_ok(link)


def test_a_dynamic_link_for_seventy_five_som_matches_byte_for_byte(page, live_server):
    fields = {"type": "dynamic", "provider_id": "mkassa", "service_code": "M-00042", "merchant_id": "M-00042",
              "transaction_id": "01JOFFLINE0000000000000001", "mcc": "5411", "amount": 7500, "name": "Дүкөн «Ак-Суу»",
              "additional": [], "unknown": {}}
    page.goto("/offline")
    page.evaluate(SOURCE.read_text(encoding="utf-8"))
    link = page.evaluate("(fields) => MkassaElqr.build(fields)", fields)
    assert link == python_build(fields)
    assert elqr.parse(link).amount == 7500
