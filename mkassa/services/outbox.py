"""The transactional outbox and its dispatcher.

A side effect is queued as a row in the same transaction as the change that caused it, so a crash
never loses one and a rollback never sends one. The dispatcher claims a due row with a guarded
UPDATE (so two dispatchers never deliver the same row at once), delivers it outside any
transaction, then marks it sent or schedules a retry with exponential back-off. A claim whose worker
died (SIGKILL) expires after CLAIM_SECONDS and the message is delivered again, by the same id: the
gateways drop a repeated Idempotency-Key built from it, so nothing is sent twice.

Delivery runs in its own loop (mkassa/worker.py), apart from the periodic jobs (services/jobs.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import current_app, has_app_context
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 15 * 60
MAX_ATTEMPTS = 12
CLAIM_SECONDS = 120  # a claimed row whose dispatcher died becomes due again after this
BATCH_SIZE = 50
# Delivered messages are kept this long (for the console and support), then deleted by housekeeping.
DELIVERED_RETENTION = timedelta(days=30)

Handler = Callable[[dict[str, Any], "Delivery"], None]
_handlers: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn
    return register


def enqueue(kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None,
            delay_seconds: float = 0) -> OutboxMessage | None:
    """Queue a side effect in the current transaction. With a dedupe key, queued at most once."""
    if dedupe_key and db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
        return None
    msg = OutboxMessage(kind=kind, payload=payload, dedupe_key=dedupe_key,
                        next_attempt_at=utcnow() + timedelta(seconds=delay_seconds))
    db.session.add(msg)
    db.session.info["outbox_added"] = True
    return msg


def backoff_seconds(attempts: int) -> int:
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


def _claim(msg_id: int, now: datetime) -> bool:
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, OutboxMessage.status == "pending",
               or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .values(locked_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=OutboxMessage.attempts + 1))
    db.session.commit()
    return result.rowcount == 1


@dataclass
class Delivery:
    """The message a handler delivers: a copy, not the row, so that no transaction stays open while
    the handler talks to a gateway. A handler may replace `payload` (what is kept once delivered)."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def dispatch_due(now: datetime | None = None, limit: int = BATCH_SIZE,
                 should_stop: Callable[[], bool] = lambda: False) -> int:
    """Deliver due messages; returns how many were delivered. Commits its own transactions.

    Each message is claimed (committed), read, and the transaction ended before its handler runs:
    a handler that reads the database commits again before it calls out. `should_stop` is asked
    between messages, so a worker told to stop finishes the message in hand and no other.
    """
    now = now or utcnow()
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
    db.session.commit()
    delivered = 0
    for msg_id in due:
        if should_stop():
            break
        if not _claim(msg_id, now):
            continue
        row = db.session.get(OutboxMessage, msg_id)
        delivery = Delivery(row.id, row.kind, dict(row.payload), row.attempts)
        db.session.commit()
        try:
            deliver = _handlers[delivery.kind]
            deliver(dict(delivery.payload), delivery)
        except Exception as exc:  # any failure is retried: the message must not be lost
            db.session.rollback()
            _failed(msg_id, exc)
            continue
        msg = db.session.get(OutboxMessage, msg_id)
        msg.status, msg.sent_at, msg.locked_until, msg.last_error = "sent", utcnow(), None, None
        msg.payload = delivery.payload
        db.session.commit()
        delivered += 1
    return delivered


def _failed(msg_id: int, exc: Exception) -> None:
    msg = db.session.get(OutboxMessage, msg_id)
    msg.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    msg.locked_until = None
    if msg.attempts >= MAX_ATTEMPTS:
        msg.status = "dead"
        log.error("outbox message %s (%s) is dead after %s attempts", msg.id, msg.kind, msg.attempts)
    else:
        msg.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(msg.attempts))
        log.warning("outbox message %s (%s) failed, retrying: %s", msg.id, msg.kind, type(exc).__name__)
    db.session.commit()


def retry_dead(msg_id: int) -> bool:
    """An operator's "retry" of a dead message: due again now, with a fresh count of attempts."""
    return _revive(OutboxMessage.id == msg_id)


def revive(dedupe_key: str) -> bool:
    """The dead message queued under `dedupe_key` due again now, when reconciliation finds that the
    Bank never received what it carries; False when there is none, or it is not dead."""
    revived = _revive(OutboxMessage.dedupe_key == dedupe_key)
    if revived:
        log.warning("outbox message %s: the Bank has no record of it; it is sent again", dedupe_key)
    return revived


def _revive(which) -> bool:
    result = db.session.execute(
        update(OutboxMessage).where(which, OutboxMessage.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), locked_until=None))
    if result.rowcount == 1:
        db.session.info["outbox_added"] = True
    return result.rowcount == 1


def delivered_before(moment: datetime):
    """Messages delivered before `moment` (housekeeping deletes them after DELIVERED_RETENTION)."""
    return (OutboxMessage.status == "sent") & (OutboxMessage.sent_at < moment)


def backlog_age_seconds(now: datetime | None = None) -> float:
    """How long the oldest due message has been waiting (0 when nothing is due)."""
    now = now or utcnow()
    oldest = db.session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                               .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now))
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session) -> None:
    """A commit that queued something wakes the in-process dispatcher: the SMS shows at once."""
    if session.in_nested_transaction():
        return  # a savepoint was released: the real commit is still to come
    if session.info.pop("outbox_added", False) and has_app_context():
        dispatcher = current_app.extensions.get("mkassa.dispatcher")
        if dispatcher is not None:
            dispatcher.wake()
