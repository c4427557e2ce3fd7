"""Notifications from the Bank (bank-interface.md §1): verified, recorded once, applied once.

Every event is stored by its webhook id with its outcome, so a redelivery answers 2xx and changes
nothing, and a refused event (422) stays visible to operators. Business keys back that up: a bank
transaction (`bank_txn_id`, unique on payments) credits one payment, and the ledger posts a
payment's transfer once, so even two deliveries racing each other credit once.

What is stored is masked first (mkassa.pan): a card number in a body, a reason or a payer field is
never kept in clear. Events are applied from the body as received, so the Bank's identifiers match
whatever digits they hold.

What an operator needs to find the event's money — its type, bank transaction, amount and payment —
is gathered in `Facts` while the event is read, and written on its record after the savepoint, so a
refused event keeps it too (the savepoint's rollback would otherwise undo it with the rest).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from .. import durable
from ..config import Settings
from ..extensions import db
from ..models import BankWebhookEvent, Payment, Point, utcnow
from ..models.bank import WEBHOOK_ID_MAX
from ..models.payment import CURRENCY_KGS
from ..money import MAX_AMOUNT
from ..pan import mask_pans
from . import hotrows, upsert
from .accept import Success, confirm_success, record_failure
from . import card, offline, payouts, refunds

BANK_REF_MAX = 64


class SignatureRejected(Exception):
    """Not signed with our secret, or outside the time window: answered 401, never recorded."""


class Mismatch(Exception):
    """A well-signed event MKASSA cannot apply; `reason` (English) is shown in the bank console."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    status: int  # HTTP status for the Bank
    outcome: str  # processed | duplicate | mismatch
    payment: Payment | None = None


@dataclass
class Facts:
    """What the bank console shows of an event (masked): filled in as its fields are read and found."""

    event_type: str | None = None
    bank_txn_id: str | None = None
    amount: int | None = None  # tyiyn, once read as a valid amount
    payment_id: int | None = None  # a payment that exists whatever becomes of this event

    def write_to(self, event: BankWebhookEvent) -> None:
        for field in fields(self):
            setattr(event, field.name, getattr(self, field.name))


# The event's record, built once (see services.upsert): inserted first, unless its webhook id is
# known, and completed by id once applied. Refused and repeated events take the ORM's slower road.
_EVENTS = BankWebhookEvent.__table__
_RECORD = upsert.insert_unless_exists(_EVENTS, ["webhook_id", "body", "outcome", "attempts", "received_at",
                                                "updated_at"], ["webhook_id"], returning="id")
_COMPLETE = (update(_EVENTS).where(_EVENTS.c.id == bindparam("event"))
             .values({name: bindparam(f"new_{name}", type_=_EVENTS.c[name].type)
                      for name in ("event_type", "bank_txn_id", "amount", "payment_id", "outcome", "reason")}))
# The payment.succeeded reads, built once too: building a select and its cache key costs more Python
# than running it (about 0.5 ms for the locked read with its merchant), and these run on every webhook.
_BY_BANK_TXN = select(Payment).where(Payment.bank_txn_id == bindparam("bank_txn_id"))
# Row lock: two deliveries racing for one payment are applied one after the other. The merchant comes
# in the same query (its account is checked), locked it is not; populate_existing: what the lock
# guards is read afresh even if the session held the payment already.
_DYNAMIC_LOCKED = (select(Payment).where(Payment.public_id == bindparam("public_id"), Payment.method == "qr",
                                         Payment.link_type == "dynamic")
                   .options(joinedload(Payment.merchant, innerjoin=True)).with_for_update(of=Payment)
                   .execution_options(populate_existing=True))

Handler = Callable[[dict[str, Any], Facts], tuple[str, Payment | None]]
_handlers: dict[str, Handler] = {}


def handler(event_type: str) -> Callable[[Handler], Handler]:
    """Register the function that applies one event type; it returns (outcome, payment) or raises Mismatch."""
    def register(fn: Handler) -> Handler:
        _handlers[event_type] = fn
        return fn
    return register


def verify(settings: Settings, body: bytes, headers: Mapping[str, str]) -> str:
    """Check the Standard Webhooks signature and timestamp; return the webhook id.

    The library refuses timestamps more than 5 minutes off; our own window (WEBHOOK_TOLERANCE)
    applies on top, so a captured request cannot be replayed later.
    """
    try:
        Webhook(settings.webhook_secret).verify(body, dict(headers), json_parse=False)
        sent_at = float(headers["webhook-timestamp"])
    except (WebhookVerificationError, ValueError, KeyError) as exc:  # ValueError: bad base64, not UTF-8
        raise SignatureRejected(type(exc).__name__) from None
    if abs(utcnow().timestamp() - sent_at) > settings.webhook_tolerance_seconds:
        raise SignatureRejected("timestamp outside the window")
    webhook_id = headers["webhook-id"]
    if len(webhook_id) > WEBHOOK_ID_MAX:
        raise SignatureRejected("webhook id too long")
    return webhook_id


def ingest(webhook_id: str, body: bytes) -> Outcome:
    """Record and apply one verified event. Flushes; the request commits it. A refused event (422)
    is kept for the bank console by `durable.keep`, since the request then rolls back."""
    now = utcnow()
    mark = durable.mark()
    text = body.decode("utf-8")  # verify() has decoded it already
    # Recorded first, in one statement; a delivery seen before (also one racing us, which PostgreSQL
    # makes us wait for) inserts nothing and is then read under its row lock.
    event_id = upsert.run(_RECORD, {"webhook_id": webhook_id, "body": mask_pans(text), "outcome": "processed",
                                    "attempts": 1, "received_at": now, "updated_at": now}).scalar()
    event: BankWebhookEvent | None = None
    if event_id is None:
        event = db.session.scalar(select(BankWebhookEvent).where(BankWebhookEvent.webhook_id == webhook_id)
                                  .with_for_update().execution_options(populate_existing=True))
        event.attempts += 1
        event.updated_at = now
        if event.outcome != "mismatch":
            return Outcome(200, "duplicate")
        # a refused event sent again: it may apply now (e.g. its payment has appeared)
    facts = Facts()
    try:
        # The shop's shared rows (its balances, its rollup counters) are written last, just before
        # the request commits: every other payment of the shop waits for their locks (services.hotrows).
        with hotrows.last():
            with db.session.begin_nested():
                outcome, payment = _apply(text, facts)
            facts.payment_id = payment.id if payment is not None else None
            if event is None:
                db.session.execute(_COMPLETE, {"event": event_id, "new_outcome": outcome, "new_reason": None,
                                               **{f"new_{f.name}": getattr(facts, f.name) for f in fields(facts)}})
            else:
                facts.write_to(event)
                event.outcome, event.reason = outcome, None
    except Mismatch as exc:
        if event is None:  # the row this request inserted, locked by it
            event = db.session.get(BankWebhookEvent, event_id)
        facts.write_to(event)
        event.outcome, event.reason = "mismatch", mask_pans(exc.reason)[:300]
        kept = {name: getattr(event, name) for name in _REFUSED_FIELDS}
        durable.keep(mark, redo=lambda: _keep_refused(webhook_id, kept))
        return Outcome(422, "mismatch")
    return Outcome(200, outcome, payment)


_REFUSED_FIELDS = ("event_type", "bank_txn_id", "amount", "payment_id", "outcome", "reason", "attempts", "body",
                   "received_at", "updated_at")


def _keep_refused(webhook_id: str, values: dict[str, Any]) -> None:
    """The refused event again, alone in a fresh transaction (the caller's work was rolled back, and
    with it a payment the caller had only just made: the event then names none)."""
    if values.get("payment_id") is not None and db.session.get(Payment, values["payment_id"]) is None:
        values = {**values, "payment_id": None}
    event = db.session.scalar(select(BankWebhookEvent).where(BankWebhookEvent.webhook_id == webhook_id)
                              .with_for_update())
    if event is None:
        db.session.add(BankWebhookEvent(webhook_id=webhook_id, **values))
    elif event.outcome == "mismatch":  # still refused (a parallel delivery may have applied it since)
        for name, value in values.items():
            setattr(event, name, value)


def _apply(text: str, facts: Facts) -> tuple[str, Payment | None]:
    try:
        message = json.loads(text)
    except ValueError:
        raise Mismatch("body is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        raise Mismatch("body must be an object with 'type' and 'data'")
    facts.event_type = mask_pans(str(message.get("type")))[:64]
    apply = _handlers.get(message.get("type"))  # type: ignore[arg-type]
    if apply is None:
        raise Mismatch(f"unsupported event type {facts.event_type!r}")
    return apply(message["data"], facts)


# ------------------------------------------------------------------------------- field readers


def _text(data: dict[str, Any], key: str, *, required: bool = True, limit: int = BANK_REF_MAX) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Mismatch(f"{key}: expected text of 1 to {limit} characters")
    return value


def _amount(data: dict[str, Any]) -> int:
    """The amount of any payment kind, at most MAX_AMOUNT: the ceiling every amount in MKASSA has.

    A static QR carries no amount, so the Bank's word is the only check before the credit; a larger
    number is refused (kept for the console) rather than credited or left to overflow the database.
    """
    value = data.get("amount")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT:
        raise Mismatch(f"amount: expected a whole number of tyiyn from 1 to {MAX_AMOUNT}")
    return value


def _paid_at(data: dict[str, Any]) -> datetime:
    try:
        value = datetime.fromisoformat(data["paid_at"])
    except (KeyError, TypeError, ValueError):
        raise Mismatch("paid_at: expected an RFC 3339 time") from None
    if value.tzinfo is None:
        raise Mismatch("paid_at: the time needs an offset")
    return value


# ----------------------------------------------------------------------------------- handlers


@handler("payment.succeeded")
def _payment_succeeded(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    bank_txn_id = _text(data, "bank_txn_id")
    facts.bank_txn_id = mask_pans(bank_txn_id)  # shown in the console; the payment keeps the Bank's key
    link_type = data.get("link_type")
    if link_type not in ("static", "dynamic"):
        raise Mismatch("link_type: expected 'static' or 'dynamic'")
    transaction_id = _text(data, "transaction_id", required=False, limit=32)
    recipient_id = _text(data, "recipient_id", required=False, limit=32)
    amount, currency = _amount(data), data.get("currency")
    facts.amount = amount
    payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
    success = Success(bank_txn_id, amount, str(currency), _text(payer, "bank", required=False),
                      _text(payer, "name_masked", required=False), _paid_at(data))

    already = db.session.scalar(_BY_BANK_TXN, {"bank_txn_id": bank_txn_id})
    if already is not None:
        facts.payment_id = already.id
        return _same_transaction(already, success, link_type, transaction_id), already
    if transaction_id is None:
        raise Mismatch("transaction_id: missing, so the payment cannot be matched")
    if link_type == "dynamic":
        return _dynamic_paid(transaction_id, recipient_id, success, facts)
    return _static_paid(transaction_id, recipient_id, success, facts)


def _same_transaction(payment: Payment, success: Success, link_type: str, transaction_id: str | None) -> str:
    """The bank transaction was applied before (a new webhook id for it): a duplicate if it says the same."""
    reference = payment.public_id if payment.link_type == "dynamic" else (payment.point.reference if payment.point else None)
    if (payment.link_type, reference, payment.amount, payment.currency) != (
            link_type, transaction_id, success.amount, success.currency):
        raise Mismatch(f"bank_txn_id {success.bank_txn_id} was already applied to a different payment")
    return "duplicate"


def _dynamic_paid(transaction_id: str, recipient_id: str | None, success: Success,
                  facts: Facts) -> tuple[str, Payment]:
    payment = db.session.scalar(_DYNAMIC_LOCKED, {"public_id": transaction_id})  # under its row lock
    recorded = False
    if payment is None:
        # A QR made offline with a reserved id: recorded now, before the phone's upload (money has moved).
        # Inside the event's savepoint, so a refusal below takes the new payment back with it.
        payment, recorded = offline.record_bank_payment(transaction_id, success)
        if payment is None:
            raise Mismatch(f"unknown transaction_id {transaction_id}")
    # The payment this event names: a second payer of a paid QR is found through it.
    facts.payment_id = payment.id
    if recipient_id is not None and recipient_id != payment.merchant.account_number:
        raise Mismatch("recipient_id differs from the merchant's account")
    if recorded:
        return "processed", payment
    if payment.offline_amount is not None and payment.amount != success.amount and payment.status != "succeeded":
        # The phone's upload came first with another amount: the Bank's counts, flagged for the console.
        offline.accept_bank_amount(payment, success.amount)
    if (success.amount, success.currency) != (payment.amount, payment.currency):
        raise Mismatch(f"amount/currency {success.amount} {success.currency} differ from the payment's "
                       f"{payment.amount} {payment.currency}")
    if payment.status == "succeeded" and payment.bank_txn_id == success.bank_txn_id:
        return "duplicate", payment  # applied meanwhile by a concurrent delivery we waited for
    if payment.status == "succeeded":
        raise Mismatch("a dynamic QR is paid once: this payment was paid by another bank transaction")
    confirm_success(payment, success)
    return "processed", payment


def _static_paid(reference: str, recipient_id: str | None, success: Success,
                 facts: Facts) -> tuple[str, Payment]:
    point = db.session.scalar(select(Point).where(Point.reference == reference))
    if point is None:
        raise Mismatch(f"unknown point reference {reference}")
    if recipient_id is not None and recipient_id != point.merchant.account_number:
        raise Mismatch("recipient_id differs from the merchant's account")
    if success.currency != CURRENCY_KGS:
        raise Mismatch(f"currency {success.currency}: a static QR is paid in {CURRENCY_KGS}")
    # A static QR is paid many times: each bank transaction is a new payment on the point.
    payment = Payment(merchant_id=point.merchant_id, point_id=point.id, method="qr", link_type="static",
                      amount=success.amount, currency=success.currency, status="pending", created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(payment)
            payment.bank_txn_id = success.bank_txn_id  # unique: a racing twin fails here
            db.session.flush()
    except IntegrityError:
        already = db.session.scalar(_BY_BANK_TXN, {"bank_txn_id": success.bank_txn_id})
        facts.payment_id = already.id  # the racing twin's payment, committed
        return _same_transaction(already, success, "static", reference), already
    confirm_success(payment, success)
    return "processed", payment


@handler("payment.failed")
def _payment_failed(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    transaction_id = _text(data, "transaction_id", limit=32)
    payment = db.session.scalar(select(Payment).where(Payment.public_id == transaction_id, Payment.method == "qr")
                                .with_for_update())
    if payment is None:
        raise Mismatch(f"unknown transaction_id {transaction_id}")
    facts.payment_id = payment.id
    if payment.status == "failed":
        return "duplicate", payment
    if payment.status != "pending":
        raise Mismatch(f"payment is already {payment.status}")
    record_failure(payment, _text(data, "reason", required=False, limit=200))
    return "processed", payment


@handler("payout.succeeded")
def _payout_succeeded(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _payout_result(data, True), None


@handler("payout.failed")
def _payout_failed(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _payout_result(data, False), None


def _payout_result(data: dict[str, Any], succeeded: bool) -> str:
    """A withdrawal's result (bank-interface.md §1): keyed by `payout_id`, applied once."""
    try:
        return payouts.apply_bank_result(_text(data, "payout_id", limit=26), succeeded,
                                         _text(data, "bank_ref", required=False),
                                         _text(data, "reason", required=False, limit=200))
    except payouts.BankResultRefused as exc:
        raise Mismatch(exc.reason) from None


@handler("card.approved")
def _card_approved(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _card_result(data, facts, approved=True)


@handler("card.declined")
def _card_declined(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _card_result(data, facts, approved=False)


def _card_result(data: dict[str, Any], facts: Facts, approved: bool) -> tuple[str, Payment]:
    """MPOS's result, confirmed by the Bank (bank-interface.md §1, §5): keyed by MKASSA's `payment_id`.

    Any field holding a full card number refuses the whole event, before anything is read from it
    (the body is kept masked, services.webhooks.ingest); the currency, when sent, must be the payment's.
    """
    try:
        card.refuse_card_numbers(data)
        payment_id = _text(data, "payment_id", limit=32)
        amount = _amount(data)
        facts.amount = amount
        rrn = data.get("rrn")
        facts.bank_txn_id = rrn[:BANK_REF_MAX] if isinstance(rrn, str) and rrn else None
        currency = data.get("currency", CURRENCY_KGS)
        result = card.read_result(approved, data, amount, str(currency))
        payment = card.lock(payment_id)
        if payment is None:
            raise Mismatch(f"unknown payment_id {payment_id}")
        facts.payment_id = payment.id
        return card.apply_result(payment, result), payment
    except card.CardRefused as exc:
        raise Mismatch(exc.reason) from None


@handler("refund.succeeded")
def _refund_succeeded(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _refund_result(data, facts, True)


@handler("refund.failed")
def _refund_failed(data: dict[str, Any], facts: Facts) -> tuple[str, Payment | None]:
    return _refund_result(data, facts, False)


def _refund_result(data: dict[str, Any], facts: Facts, succeeded: bool) -> tuple[str, Payment | None]:
    """A refund's result (bank-interface.md §1, §3a): keyed by `refund_id`, applied once; the amount
    and the payment it names must be the refund's own."""
    refund_id = _text(data, "refund_id", limit=26)
    amount = _amount(data)
    facts.amount = amount
    payment_id = _text(data, "payment_id", limit=26)
    payment = db.session.scalar(select(Payment).where(Payment.public_id == payment_id))
    if payment is not None:
        facts.payment_id = payment.id
    try:
        outcome = refunds.apply_bank_result(refund_id, succeeded, _text(data, "bank_ref", required=False),
                                            _text(data, "reason", required=False, limit=200),
                                            amount=amount, payment_id=payment_id)
    except refunds.BankResultRefused as exc:
        raise Mismatch(exc.reason) from None
    return outcome, payment
