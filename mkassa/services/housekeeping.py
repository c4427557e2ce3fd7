"""Housekeeping: rows whose purpose is over are deleted by scheduled jobs, so no table only grows.

Each kind is its own job (own interval, own failure record in the console). Deletes go in batches of
PURGE_BATCH rows, one transaction each, so a first run over a large backlog never holds a long lock.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select

from .. import idempotency
from ..config import SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS
from ..extensions import db
from ..models import (AuthAttempt, IdempotencyKey, OneTimeCode, OutboxMessage, PaymentReservation, UserSession,
                      WorkerHeartbeat, utcnow)
from . import jobs, outbox, throttle

PURGE_BATCH = 5_000
# How often each housekeeping job runs (seconds).
HOUSEKEEPING_EVERY_SECONDS = 60 * 60
# Used or expired one-time codes are kept this long after they were issued: longer than any window
# in which codes are counted (services.otp, CODES_WINDOW_SECONDS), so deleting one never lifts a limit.
CODE_RETENTION = timedelta(days=2)
# Ended sign-in sessions are kept this long (support questions about a recent sign-in).
SESSION_RETENTION = timedelta(days=7)
# A worker silent this long stopped without signing off: its heartbeat row goes.
WORKER_RETENTION = timedelta(days=1)
# A reserved offline payment id never used is kept this long after it expired: as long as the phone's
# queue keeps an upload (sw.js, 30 days), so a QR made just before expiry still finds its id, and a
# late notice from the Bank still lands (services.offline).
RESERVATION_RETENTION = timedelta(days=30)


def _purge(model, id_column, condition: ColumnElement[bool]) -> int:
    """Delete the rows matching `condition`, PURGE_BATCH at a time, committing each batch."""
    total = 0
    while True:
        ids = db.session.scalars(select(id_column).where(condition).limit(PURGE_BATCH)).all()
        if ids:
            db.session.execute(delete(model).where(id_column.in_(ids)))
        db.session.commit()
        total += len(ids)
        if len(ids) < PURGE_BATCH:
            return total


@jobs.periodic("purge_idempotency_keys", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_idempotency_keys(now: datetime | None = None) -> int:
    """Idempotency keys older than their lifetime (idempotency.KEY_LIFETIME) replay nothing any more."""
    now = now or utcnow()
    return _purge(IdempotencyKey, IdempotencyKey.id, idempotency.expired(now))


@jobs.periodic("purge_one_time_codes", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_one_time_codes(now: datetime | None = None) -> int:
    now = now or utcnow()
    return _purge(OneTimeCode, OneTimeCode.id,
                  (OneTimeCode.created_at < now - CODE_RETENTION)
                  & or_(OneTimeCode.used_at.is_not(None), OneTimeCode.expires_at < now))


@jobs.periodic("purge_delivered_outbox", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_delivered_outbox(now: datetime | None = None) -> int:
    """Delivered messages older than outbox.DELIVERED_RETENTION (pending and dead ones stay)."""
    now = now or utcnow()
    return _purge(OutboxMessage, OutboxMessage.id, outbox.delivered_before(now - outbox.DELIVERED_RETENTION))


@jobs.periodic("purge_sessions", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_sessions(now: datetime | None = None) -> int:
    """Sessions ended (signed out, idle or past their absolute lifetime) longer than SESSION_RETENTION ago."""
    now = now or utcnow()
    before = now - SESSION_RETENTION
    return _purge(UserSession, UserSession.id, or_(
        UserSession.revoked_at < before,
        UserSession.last_seen_at < before - timedelta(seconds=SESSION_IDLE_SECONDS),
        UserSession.created_at < before - timedelta(seconds=SESSION_ABSOLUTE_SECONDS)))


@jobs.periodic("purge_auth_attempts", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_auth_attempts(now: datetime | None = None) -> int:
    """Counted sign-in and recovery attempts older than the longest window of any limit."""
    now = now or utcnow()
    return _purge(AuthAttempt, AuthAttempt.id, AuthAttempt.at < now - timedelta(seconds=throttle.MAX_WINDOW_SECONDS))


@jobs.periodic("purge_silent_workers", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_silent_workers(now: datetime | None = None) -> int:
    now = now or utcnow()
    return _purge(WorkerHeartbeat, WorkerHeartbeat.id, WorkerHeartbeat.seen_at < now - WORKER_RETENTION)


@jobs.periodic("purge_unused_reservations", every_seconds=HOUSEKEEPING_EVERY_SECONDS)
def purge_unused_reservations(now: datetime | None = None) -> int:
    """Reserved offline payment ids that no payment and no upload used, RESERVATION_RETENTION past expiry
    (each device is handed fresh ones twice a day, so unused ones would otherwise pile up)."""
    now = now or utcnow()
    return _purge(PaymentReservation, PaymentReservation.id,
                  (PaymentReservation.expires_at < now - RESERVATION_RETENTION)
                  & PaymentReservation.payment_id.is_(None) & PaymentReservation.uploaded_at.is_(None))
