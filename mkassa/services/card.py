"""Accepting a payment by bank card through the Bank's MPOS app (M9.2, bank-interface.md §5).

MKASSA never sees card data: "Card" makes a pending card payment and opens MPOS (an app on the same
Android phone) through `mpos_url`; MPOS reads the card and sends the person back to the payment's
page, whose query parameters are only a hint for wording. What counts is the Bank's signed `card.*`
notification (services.webhooks), or its answer to `find_card_payment` when that notification is
late or lost: the periodic job below and the cashier's "Check status". Without either within
`card_answer_seconds` the payment expires, and a later approval is still credited, flagged.

What the Bank tells of a card is kept only as a masked card (at most the first six and last four
digits), the RRN and the authorisation code; a result carrying a full card number is refused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from sqlalchemy import select

from ..config import Settings
from ..extensions import db
from ..gateways import corebank
from ..models import Payment, User, utcnow
from ..pan import has_pan, is_card_mask, mask_pans
from . import NotAllowed, jobs, payments
from .accept import JOB_BATCH_SIZE, RECONCILE_EVERY_SECONDS, announce, mark_paid, new_payment, record_failure

log = logging.getLogger(__name__)

# How MKASSA opens MPOS when MPOS_URL_TEMPLATE is empty. The sandbox's simulator is a page of this app
# (the sandbox blueprint); production opens the Android app by an intent: URL, and Chrome follows
# S.browser_fallback_url (our help page) when the app is not installed.
SANDBOX_MPOS_TEMPLATE = "/sandbox/mpos?payment_id={payment_id}&amount={amount}&return_url={return_url}"
PRODUCTION_MPOS_TEMPLATE = ("intent://pay?payment_id={payment_id}&amount={amount}&return_url={return_url}"
                            "#Intent;scheme=mpos;package={package};S.browser_fallback_url={fallback_url};end")
# What MPOS may say on return (`?mpos=…`): a hint for the words on the page, never the payment's status.
MPOS_HINTS = ("approved", "declined", "cancelled")
RRN_MAX = 32
AUTH_CODE_MAX = 16
REASON_MAX = 200


def create_card_payment(user: User, amount_text: str, settings: Settings, now: datetime | None = None) -> Payment:
    """A pending card payment: the QR's amount and shift rules, for a merchant with an MPOS contract."""
    if not user.merchant.has_mpos_contract:
        raise NotAllowed(_("Card payments need an MPOS contract with the Bank."))
    return new_payment(user, amount_text, settings, "card", settings.card_answer_seconds, now)


def mpos_url(payment: Payment, return_url: str, fallback_url: str, settings: Settings) -> str:
    """Where "Card" sends the phone: MPOS, told the payment, its amount and where to come back."""
    template = settings.mpos_url_template or (SANDBOX_MPOS_TEMPLATE if settings.sandbox
                                              else PRODUCTION_MPOS_TEMPLATE)
    return template.format(payment_id=payment.public_id, amount=payment.amount,
                           return_url=quote(return_url, safe=""), fallback_url=quote(fallback_url, safe=""),
                           package=quote(settings.mpos_package, safe=""))


# ------------------------------------------------------------------------------------ results


class CardRefused(Exception):
    """A card result MKASSA cannot apply; `reason` (English, masked) is shown in the bank console."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = mask_pans(reason)


@dataclass(frozen=True)
class CardResult:
    """What MPOS and the Bank say of one card payment, from a `card.*` webhook or `find_card_payment`."""

    approved: bool
    amount: int
    currency: str
    rrn: str | None
    auth_code: str | None
    card_mask: str | None
    reason: str | None


def refuse_card_numbers(data: Any, path: str = "") -> None:
    """CardRefused if any value (nested too, numbers included) holds a full card number."""
    if isinstance(data, dict):
        for key, value in data.items():
            refuse_card_numbers(str(key), f"{path}{key}.")
            refuse_card_numbers(value, f"{path}{key}.")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            refuse_card_numbers(value, f"{path}{index}.")
    elif isinstance(data, (str, int)) and not isinstance(data, bool) and has_pan(str(data)):
        raise CardRefused(f"{path.rstrip('.') or 'body'}: holds a full card number; only a masked card is taken")


def read_result(approved: bool, fields: dict[str, Any], amount: int, currency: str) -> CardResult:
    """A CardResult from the Bank's fields, checked: a masked card only, references within bounds."""
    refuse_card_numbers(fields)

    def text(key: str, limit: int, required: bool) -> str | None:
        value = fields.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value or len(value) > limit:
            raise CardRefused(f"{key}: expected text of 1 to {limit} characters")
        return value

    card_mask = text("card_mask", 32, approved)
    if card_mask is not None and not is_card_mask(card_mask):
        raise CardRefused("card_mask: expected a masked card showing at most the first 6 and the last 4 digits")
    return CardResult(approved, amount, currency, text("rrn", RRN_MAX, approved),
                      text("auth_code", AUTH_CODE_MAX, approved), card_mask, text("reason", REASON_MAX, False))


def apply_result(payment: Payment, result: CardResult, now: datetime | None = None) -> str:
    """Apply a card result to its payment, locked by the caller: "processed" or "duplicate".

    An approval is credited once, also to a payment that expired or was cancelled meanwhile (the card
    was charged: flagged, never dropped). A result contradicting a final one is refused for an operator.
    """
    now = now or utcnow()
    if (result.amount, result.currency) != (payment.amount, payment.currency):
        raise CardRefused(f"amount/currency {result.amount} {result.currency} differ from the payment's "
                          f"{payment.amount} {payment.currency}")
    if result.approved:
        if payment.status == "succeeded":
            if (payment.rrn, payment.auth_code) == (result.rrn, result.auth_code):
                return "duplicate"
            raise CardRefused("a second approval for a card payment already approved with another RRN")
        if payment.status == "failed":
            raise CardRefused("an approval for a card payment the Bank had declined")
        payment.rrn, payment.auth_code, payment.card_mask = result.rrn, result.auth_code, result.card_mask
        mark_paid(payment, now)
        return "processed"
    if payment.status == "failed":
        return "duplicate"
    if payment.status == "succeeded":
        raise CardRefused("a decline for a card payment already approved")
    if payment.status != "pending":
        return "duplicate"  # expired or cancelled already: a decline changes nothing, no money moved
    payment.card_mask = result.card_mask
    record_failure(payment, result.reason)
    return "processed"


def lock(public_id: str) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.public_id == public_id, Payment.method == "card")
                             .with_for_update().execution_options(populate_existing=True))


# ------------------------------------------------------------------------------ reconciliation


def ask_bank(public_id: str) -> corebank.BankCardPayment | None:
    """The Bank's record of a card payment. Called with no transaction open."""
    return corebank.find_card_payment(public_id)


def apply_bank_answer(payment_id: int, found: corebank.BankCardPayment | None,
                      now: datetime | None = None) -> Payment:
    """Apply what the Bank said of one card payment, under its row lock; returns the payment.

    An answer MKASSA cannot take (a card number in it, a different amount) is logged and left for
    an operator; the payment then expires like one the Bank knows nothing of.
    """
    now = now or utcnow()
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update()
                                .execution_options(populate_existing=True))
    if payment.status != "pending":
        return payment
    if found is not None:
        try:
            fields = {"rrn": found.rrn, "auth_code": found.auth_code, "card_mask": found.card_mask,
                      "reason": found.reason}
            result = read_result(found.status == "approved",
                                 {key: value for key, value in fields.items() if value is not None},
                                 found.amount, found.currency)
            apply_result(payment, result, now)
            return payment
        except CardRefused as exc:
            log.warning("card payment %s: the Bank's answer was not applied: %s", payment.public_id, exc.reason)
    if payment.expires_at is not None and payment.expires_at <= now:
        payments.transition(payment, "expired", now)
        announce(payment)
    return payment


@jobs.periodic("reconcile_card_payments", every_seconds=RECONCILE_EVERY_SECONDS)
def reconcile_overdue() -> int:
    """Pending card payments past `card_answer_seconds`: repaired from the Bank's records, or expired.
    As accept.reconcile_overdue: the Bank is asked with no transaction open, each answer committed alone."""
    now = utcnow()
    overdue = db.session.execute(
        select(Payment.id, Payment.public_id).where(Payment.status == "pending", Payment.method == "card",
                                                    Payment.expires_at <= now)
        .order_by(Payment.expires_at).limit(JOB_BATCH_SIZE)).all()
    db.session.commit()
    for payment_id, public_id in overdue:
        found = corebank.find_card_payment(public_id)
        apply_bank_answer(payment_id, found, now)
        db.session.commit()
    return len(overdue)
