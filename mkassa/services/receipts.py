"""The payer's public receipt (issue #17 item 4): found by its own random token, never by public_id.

The page is public (no sign-in) and never expires, so the only key is the 128-bit token, and only a
succeeded payment has a receipt: a pending, failed or cancelled payment's token answers exactly as
an unknown one does (the view's plain 404), so a token says nothing before the money is there.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Payment
from ..models.payment import RECEIPT_TOKEN_LENGTH, PaymentStatus

# What new_receipt_token makes; anything else is refused before it reaches the database.
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{RECEIPT_TOKEN_LENGTH}}}")


def find(token: str) -> Payment | None:
    """The succeeded payment whose receipt this is, or None (unknown, malformed, or not paid)."""
    if not _TOKEN.fullmatch(token):
        return None
    return db.session.scalar(
        select(Payment).options(joinedload(Payment.merchant), joinedload(Payment.point))
        .where(Payment.receipt_token == token, Payment.status == PaymentStatus.SUCCEEDED.value))


def payer(payment: Payment) -> str | None:
    """Who paid, as the receipt may show it: the card's mask for a card payment that has one, else
    the payer's bank and masked name. Both were masked before they were stored (mkassa/pan.py)."""
    if payment.method == "card" and payment.card_mask:
        return payment.card_mask
    parts = [part for part in (payment.payer_bank, payment.payer_name_masked) if part]
    return " · ".join(parts) or None
