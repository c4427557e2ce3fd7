"""Status queries to the Bank (bank-interface.md §2): what the Bank knows about a QR or card payment.

Used by reconciliation, so that a lost notification is repaired, and by the cashier's "check status".
Two adapters: the sandbox reads what the sandbox bank's payer page paid (`gateways.sandbox.corebank`);
production asks the core banking HTTP API.
Payouts to MBANK (§3) live here too: `request_payout` and `find_payout`; refunds (§3a): `request_refund`
and `find_refund`, at the end.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from .sandbox import corebank as sandbox

HTTP_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class BankPayment:
    """The Bank's view of one payment, shaped like a `payment.succeeded` / `payment.failed` event."""

    status: str  # "succeeded" | "failed"
    bank_txn_id: str | None
    transaction_id: str
    amount: int | None
    currency: str | None
    payer_bank: str | None = None
    payer_name_masked: str | None = None
    paid_at: datetime | None = None
    reason: str | None = None


def find_payment(transaction_id: str) -> BankPayment | None:
    """The Bank's record for the link's transaction id (32/11), or None if the Bank has none."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        return sandbox.find_payment(transaction_id)
    return _find_in_core_banking(settings, transaction_id)


def _find_in_core_banking(settings, transaction_id: str) -> BankPayment | None:
    url = f"{settings.corebank_url.rstrip('/')}/qr-payments?" + urllib.parse.urlencode(
        {"transaction_id": transaction_id})
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.corebank_token}",
                                                   "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        found = json.load(response).get("payment")
    if not found:
        return None
    paid_at = datetime.fromisoformat(found["paid_at"]) if found.get("paid_at") else None
    payer = found.get("payer") or {}
    return BankPayment(found["status"], found.get("bank_txn_id"), transaction_id, found.get("amount"),
                       found.get("currency"), payer.get("bank"), payer.get("name_masked"), paid_at,
                       found.get("reason"))


# -------------------------------------------------------------------------------- card payments
# bank-interface.md §2 and §5: what the Bank knows of a card payment MPOS took, by MKASSA's payment id.

@dataclass(frozen=True)
class BankCardPayment:
    """The Bank's view of one card payment, shaped like a `card.approved` / `card.declined` event."""

    status: str  # "approved" | "declined"
    payment_id: str
    amount: int | None
    currency: str | None
    rrn: str | None = None
    auth_code: str | None = None
    card_mask: str | None = None  # masked by the Bank; MKASSA checks it again before keeping it
    reason: str | None = None


def find_card_payment(payment_id: str) -> BankCardPayment | None:
    """The Bank's record of the card payment MPOS took for `payment_id`, or None if it has none."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        return sandbox.find_card_payment(payment_id)
    url = f"{settings.corebank_url.rstrip('/')}/card-payments?" + urllib.parse.urlencode({"payment_id": payment_id})
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.corebank_token}",
                                                   "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        found = json.load(response).get("payment")
    if not found:
        return None
    return BankCardPayment(found["status"], payment_id, found.get("amount"), found.get("currency"),
                           found.get("rrn"), found.get("auth_code"), found.get("card_mask"), found.get("reason"))


# ------------------------------------------------------------------------------------- payouts
# bank-interface.md §3: MKASSA asks the core banking system to pay a withdrawal out to MBANK; the
# result comes later, by a `payout.*` webhook or a `find_payout` query.

@dataclass(frozen=True)
class BankPayout:
    """The Bank's view of one payout."""

    status: str  # "processing" | "succeeded" | "failed"
    bank_ref: str | None
    reason: str | None = None


def request_payout(payout_id: str, mbank_phone: str, amount: int) -> None:
    """Ask the Bank to pay `amount` tyiyn to the MBANK wallet. Idempotent by `payout_id`:
    asking again (a retry after a lost answer) never pays twice. Raises on any refusal to accept."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        sandbox.request_payout(settings, payout_id, mbank_phone, amount)
    else:
        _request_from_core_banking(settings, payout_id, mbank_phone, amount)


def find_payout(payout_id: str) -> BankPayout | None:
    """The Bank's record of a payout, or None if it was never asked for it."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        return sandbox.find_payout(payout_id)
    url = f"{settings.corebank_url.rstrip('/')}/payouts/{urllib.parse.quote(payout_id)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.corebank_token}",
                                                   "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            found = json.load(response).get("payout")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    if not found:
        return None
    return BankPayout(found["status"], found.get("bank_ref"), found.get("reason"))


def _request_from_core_banking(settings, payout_id: str, mbank_phone: str, amount: int) -> None:
    body = json.dumps({"payout_id": payout_id, "mbank_phone": mbank_phone, "amount": amount,
                       "currency": "KGS"}).encode()
    request = urllib.request.Request(f"{settings.corebank_url.rstrip('/')}/payouts", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {settings.corebank_token}",
                                              # The Bank drops a repeated key: a retry is not a second payout.
                                              "Idempotency-Key": f"mkassa-payout-{payout_id}"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"core banking answered {response.status}")


# ------------------------------------------------------------------------------------- refunds
# bank-interface.md §3a: MKASSA asks the core banking system to return (part of) a payment to its
# payer, whatever the payment's method; the result comes later, by a `refund.*` webhook or `find_refund`.

@dataclass(frozen=True)
class BankRefund:
    """The Bank's view of one refund."""

    status: str  # "processing" | "succeeded" | "failed"
    bank_ref: str | None
    reason: str | None = None


def request_refund(refund_id: str, payment_id: str, amount: int) -> None:
    """Ask the Bank to return `amount` tyiyn of payment `payment_id` to its payer. Idempotent by
    `refund_id`: asking again (a retry after a lost answer) never refunds twice. Raises on any refusal."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        sandbox.request_refund(settings, refund_id, payment_id, amount)
        return
    body = json.dumps({"refund_id": refund_id, "payment_id": payment_id, "amount": amount,
                       "currency": "KGS"}).encode()
    request = urllib.request.Request(f"{settings.corebank_url.rstrip('/')}/refunds", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {settings.corebank_token}",
                                              # The Bank drops a repeated key: a retry is not a second refund.
                                              "Idempotency-Key": f"mkassa-refund-{refund_id}"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"core banking answered {response.status}")


def find_refund(refund_id: str) -> BankRefund | None:
    """The Bank's record of a refund, or None if it was never asked for it."""
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        return sandbox.find_refund(refund_id)
    url = f"{settings.corebank_url.rstrip('/')}/refunds/{urllib.parse.quote(refund_id)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.corebank_token}",
                                                   "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            found = json.load(response).get("refund")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    if not found:
        return None
    return BankRefund(found["status"], found.get("bank_ref"), found.get("reason"))
