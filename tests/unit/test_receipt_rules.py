"""The payer's receipt: its id's size, its shape check, and who the receipt says paid."""
from __future__ import annotations

import re

import pytest

from mkassa.models import Payment
from mkassa.models.payment import RECEIPT_TOKEN_BYTES, RECEIPT_TOKEN_LENGTH, new_receipt_token
from mkassa.services import receipts


def test_a_receipt_id_carries_128_random_bits_in_its_named_length():
    assert RECEIPT_TOKEN_BYTES * 8 >= 128
    tokens = {new_receipt_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", t) and len(t) == RECEIPT_TOKEN_LENGTH for t in tokens)
    assert Payment.__table__.c.receipt_token.type.length >= RECEIPT_TOKEN_LENGTH


@pytest.mark.parametrize("token, shaped", [
    ("A" * RECEIPT_TOKEN_LENGTH, True),
    ("-_" * (RECEIPT_TOKEN_LENGTH // 2), True),
    ("A" * (RECEIPT_TOKEN_LENGTH - 1), False),
    ("A" * (RECEIPT_TOKEN_LENGTH + 1), False),
    ("A" * (RECEIPT_TOKEN_LENGTH - 1) + "=", False),
    ("A" * (RECEIPT_TOKEN_LENGTH - 1) + "\n", False),
])
def test_only_a_well_shaped_id_is_looked_up(token, shaped):
    assert bool(receipts._TOKEN.fullmatch(token)) is shaped


@pytest.mark.parametrize("fields, shown", [
    (dict(method="card", card_mask="4169 58** **** 1234", payer_bank="Optima Bank"), "4169 58** **** 1234"),
    (dict(method="card", card_mask=None, payer_bank="Optima Bank"), "Optima Bank"),
    (dict(method="qr", payer_bank="MBANK", payer_name_masked="А***р К."), "MBANK · А***р К."),
    (dict(method="qr", payer_bank="MBANK"), "MBANK"),
    (dict(method="qr"), None),
])
def test_the_receipt_names_the_payer_by_card_mask_or_masked_name(fields, shown):
    assert receipts.payer(Payment(**fields)) == shown
