"""The transactional outbox and its dispatcher.

A side effect is queued as a row in the same transaction as the change that caused it, so a crash
never loses one and a rollback never sends one. The dispatcher claims a due row with a guarded
UPDATE (so two dispatchers never deliver the same row at once), delivers it outside any
transaction, then marks it sent or schedules a retry with exponential back-off.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 15 * 60
MAX_ATTEMPTS = 12
CLAIM_SECONDS = 120  # a claimed row whose dispatcher died becomes due again after this
BATCH_SIZE = 50

Handler = Callable[[dict[str, Any], OutboxMessage], None]
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


def dispatch_due(now: datetime | None = None, limit: int = BATCH_SIZE) -> int:
    """Deliver due messages; returns how many were delivered. Commits its own transactions."""
    now = now or utcnow()
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
    db.session.commit()
    delivered = 0
    for msg_id in due:
        if not _claim(msg_id, now):
            continue
        msg = db.session.get(OutboxMessage, msg_id)
        try:
            deliver = _handlers[msg.kind]
            deliver(msg.payload, msg)
        except Exception as exc:  # any failure is retried: the message must not be lost
            db.session.rollback()
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
            continue
        msg.status, msg.sent_at, msg.locked_until, msg.last_error = "sent", utcnow(), None, None
        db.session.commit()
        delivered += 1
    return delivered


class InProcessDispatcher:
    """Delivers the outbox from a daemon thread of the web process (the embedded default).

    Woken right after a commit that queued something, so an SMS shows at once; polls otherwise,
    to pick up retries. Production runs `flask outbox run` as a worker instead.
    """

    POLL_SECONDS = 1.0

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, app: Flask) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(app,), name="outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self, app: Flask) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.POLL_SECONDS)
            self._wake.clear()
            with app.app_context():
                try:
                    run_periodic(app)
                    dispatch_due()
                except Exception:  # keep the thread alive; the rows stay pending
                    log.exception("outbox dispatch failed")
                    db.session.rollback()
                finally:
                    db.session.remove()


# Jobs that run on the dispatcher's beat (settlement, reconciliation…), registered by their modules.
_periodic: list[Callable[[], Any]] = []


def periodic(fn: Callable[[], Any]) -> Callable[[], Any]:
    _periodic.append(fn)
    return fn


def run_periodic(app: Flask | None = None) -> None:
    for job in _periodic:
        job()
        db.session.commit()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session) -> None:
    """A commit that queued something wakes the in-process dispatcher: the SMS shows at once."""
    if session.in_nested_transaction():
        return  # a savepoint was released: the real commit is still to come
    if session.info.pop("outbox_added", False) and has_app_context():
        dispatcher = current_app.extensions.get("mkassa.dispatcher")
        if dispatcher is not None:
            dispatcher.wake()
