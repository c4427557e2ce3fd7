"""The sandbox bank's payer (bank-interface.md §6): pays an ELQR link like a bank app, then notifies
MKASSA with a signed webhook over real HTTP, on time, late, twice or out of order. Its MPOS simulator
(§5) takes a card payment: approves or declines it and notifies MKASSA the same way.
"""
from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from standardwebhooks import Webhook

from ... import elqr
from ...config import Settings
from ...extensions import db
from ...models import OutboxMessage, SandboxBankPayment, SandboxCardPayment, utcnow
from ...models.payment import CURRENCY_KGS
from ...money import MAX_AMOUNT
from ...money import MoneyError
from ...services import Invalid, outbox
from ...formatting import money, read_amount

PAYER_BANKS = ("MBANK", "O!Bank", "Bakai Bank", "DCB", "Optima Bank")
PAYER_NAME_MASKED = "А***р К."
DELIVERIES = {
    "now": _l("Now"),
    "late": _l("Late, after the QR has expired"),
    "twice": _l("Twice (the same notification again)"),
    "out_of_order": _l("Out of order (a stale failure after the success)"),
}
# "Late" waits until the QR's lifetime is over, plus this margin, so the payment has expired.
LATE_MARGIN_SECONDS = 5
# An out-of-order failure claims to be this much older than the success it follows.
STALE_FAILURE_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Delivery:
    event_type: str
    status: int | None  # HTTP status MKASSA answered; None while queued for later


def read_link(link: str) -> elqr.Elqr:
    """Parse a link as a bank app would: a broken link or checksum is refused."""
    try:
        parsed = elqr.parse(link)
    except elqr.ElqrError as exc:
        raise Invalid({"link": _("This is not a valid ELQR link: %(error)s", error=str(exc))}) from None
    if not elqr.checksum_ok(link):
        raise Invalid({"link": _("The link's checksum does not match: a bank app would refuse it.")})
    return parsed


def pay(link: str, amount_text: str, payer_bank: str) -> SandboxBankPayment:
    """The bank's own record of the transfer (what `find_payment` answers in the sandbox)."""
    parsed = read_link(link)
    fixed = parsed.amount is not None and parsed.amount_editable is False
    amount = parsed.amount if fixed else None
    if amount is None:
        try:
            amount = read_amount(amount_text)
        except MoneyError as exc:
            raise Invalid({"amount": _(str(exc), **{k: money(v) for k, v in exc.params.items()})}) from None
    row = SandboxBankPayment(bank_txn_id=f"sbx-{uuid.uuid4().hex}", transaction_id=parsed.transaction_id,
                             link_type=parsed.type, recipient_id=parsed.recipient_id, amount=amount,
                             currency=parsed.currency, payer_bank=payer_bank if payer_bank in PAYER_BANKS
                             else PAYER_BANKS[0], payer_name_masked=PAYER_NAME_MASKED, paid_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def succeeded_event(row: SandboxBankPayment) -> dict[str, Any]:
    return {"type": "payment.succeeded", "data": {
        "bank_txn_id": row.bank_txn_id, "link_type": row.link_type, "transaction_id": row.transaction_id,
        "recipient_id": row.recipient_id, "amount": row.amount, "currency": row.currency,
        "payer": {"bank": row.payer_bank, "name_masked": row.payer_name_masked},
        "paid_at": row.paid_at.isoformat()}}


def failed_event(row: SandboxBankPayment) -> dict[str, Any]:
    return {"type": "payment.failed", "data": {
        "transaction_id": row.transaction_id, "reason": "Insufficient funds (an earlier attempt)",
        "failed_at": (row.paid_at - timedelta(seconds=STALE_FAILURE_SECONDS)).isoformat()}}


def queue_late(row: SandboxBankPayment, url: str, settings: Settings) -> None:
    outbox.enqueue("sandbox_webhook", {"url": url, "webhook_id": new_webhook_id(),
                                       "body": json.dumps(succeeded_event(row))},
                   delay_seconds=settings.payment_lifetime_seconds + LATE_MARGIN_SECONDS)


def messages(row: SandboxBankPayment) -> dict[str, str]:
    """The notifications about a transfer, as JSON bodies by event type."""
    return {"payment.succeeded": json.dumps(succeeded_event(row)), "payment.failed": json.dumps(failed_event(row))}


def notify(bodies: dict[str, str], delivery: str, url: str, secret: str) -> list[Delivery]:
    """Deliver now. No database transaction may be open: MKASSA's handler needs the database."""
    success_id, success_body = new_webhook_id(), bodies["payment.succeeded"]
    results = [Delivery("payment.succeeded", send(url, secret, success_id, success_body))]
    if delivery == "twice":
        results.append(Delivery("payment.succeeded", send(url, secret, success_id, success_body)))
    elif delivery == "out_of_order":
        results.append(Delivery("payment.failed", send(url, secret, new_webhook_id(), bodies["payment.failed"])))
    return results


def new_webhook_id() -> str:
    # Hex in groups of 8: a plain hex id holds a run of 13+ decimal digits now and then, one in ten of
    # them Luhn-valid, and the card-number scan of everything MKASSA stores cannot tell it from a PAN.
    return "msg_" + "_".join(textwrap.wrap(uuid.uuid4().hex, 8))


def send(url: str, secret: str, webhook_id: str, body: str, now: datetime | None = None) -> int:
    """POST one signed notification; returns MKASSA's HTTP status."""
    sent_at = now or utcnow()
    headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
               "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": Webhook(secret).sign(webhook_id, sent_at, body)}
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# ------------------------------------------------------------------------------ MPOS simulator
# What MPOS does with a card: approve, decline, cancel (the cardholder gave up: nothing charged, nothing
# sent) or approve and never tell (the notification is lost: only "Check status" finds it).
MPOS_ACTIONS = ("approve", "decline", "cancel", "silent")
# Test cards, masked as MPOS shows them: a full card number never leaves MPOS.
MPOS_CARDS = ("4169 58** **** 1234", "5440 12** **** 0071", "9417 00** **** 5512")
MPOS_DECLINE_REASON = "Insufficient funds"


def mpos_amount(text: str) -> int:
    """The amount MKASSA passed to MPOS (tyiyn): a whole number within the one ceiling."""
    if not text.isdigit() or not 0 < int(text) <= MAX_AMOUNT:
        raise Invalid({"amount": _("The amount is not a whole number of tyiyn from 1 to %(max)s.", max=MAX_AMOUNT)})
    return int(text)


def mpos_take(payment_id: str, amount: int, action: str, card_mask: str) -> SandboxCardPayment | None:
    """The sandbox bank's record of what MPOS did (None for a cancel); one result per payment, the
    first one kept, as the Bank would."""
    if action == "cancel":
        return None
    existing = db.session.scalar(select(SandboxCardPayment).where(SandboxCardPayment.payment_id == payment_id))
    if existing is not None:
        return existing
    approved = action != "decline"
    row = SandboxCardPayment(payment_id=payment_id, result="approved" if approved else "declined", amount=amount,
                             currency=CURRENCY_KGS, card_mask=card_mask if card_mask in MPOS_CARDS else MPOS_CARDS[0],
                             rrn=f"{uuid.uuid4().int % 10**12:012d}" if approved else None,
                             auth_code=f"{uuid.uuid4().int % 10**6:06d}" if approved else None,
                             reason=None if approved else MPOS_DECLINE_REASON, created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def card_event(row: SandboxCardPayment) -> dict[str, Any]:
    """The `card.approved` / `card.declined` notification of an MPOS result (bank-interface.md §1)."""
    return {"type": f"card.{row.result}", "data": {
        "payment_id": row.payment_id, "amount": row.amount, "currency": row.currency, "rrn": row.rrn,
        "auth_code": row.auth_code, "card_mask": row.card_mask, "reason": row.reason}}


@outbox.handler("sandbox_webhook")
def _deliver_late(payload: dict[str, Any], msg: OutboxMessage) -> None:
    # The dispatcher's transaction must end first: on SQLite it holds the write lock that the
    # webhook handler, in another thread, needs.
    db.session.commit()
    status = send(payload["url"], current_app.extensions["mkassa.settings"].webhook_secret,
                  payload["webhook_id"], payload["body"])
    if status >= 300:  # the Bank retries every non-2xx with back-off; so does the outbox
        raise RuntimeError(f"MKASSA answered {status}")
