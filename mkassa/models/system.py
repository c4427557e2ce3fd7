"""Infrastructure rows: the outbox, audit events, idempotency keys, the sandbox SMS outbox."""
from __future__ import annotations

from datetime import datetime
from enum import nonmember
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigId, UTCDateTime, utcnow
from .status import Status, check_values


class OutboxStatus(Status):
    """An outbox message's status (services.outbox)."""

    PENDING = "pending", _l("Pending")
    SENT = "sent", _l("Sent")
    # Failed every attempt (outbox.MAX_ATTEMPTS): waits for an operator's retry in the bank console.
    DEAD = "dead", _l("Dead (gave up)")

    TRANSITIONS = nonmember({
        "pending": frozenset({"sent", "dead"}),
        "dead": frozenset({"pending"}),  # the operator's retry
    })


OUTBOX_STATUSES = tuple(OutboxStatus)


class OutboxMessage(db.Model):
    """A side effect (SMS, e-mail, push, bank call) written in the transaction that caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"), check_values("status", OutboxStatus))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Optional business key, so that the same effect is never queued twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(db.Model):
    """Append-only record of who did what; never edited."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_merchant_created", "merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyStatus(Status):
    """started: the first request is being answered; done: its response is kept for replays."""

    STARTED = "started"
    DONE = "done"

    TRANSITIONS = nonmember({"started": frozenset({"done"})})


class IdempotencyKey(db.Model):
    """A client's Idempotency-Key and the response it got, replayed on a retry."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key"), check_values("status", IdempotencyStatus))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=IdempotencyStatus.STARTED.value)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SandboxSms(db.Model):
    """What the sandbox SMS gateway 'sent': shown at /sandbox/sms and in the bank console."""

    __tablename__ = "sandbox_sms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    sender: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobState(db.Model):
    """A periodic job's lease and record (services.jobs): one row per job name.

    Claiming the job is a guarded UPDATE of this row, so among any number of workers one runs it
    per interval; the rest of the row is what the bank console shows (last success, last error,
    failures in a row).
    """

    __tablename__ = "job_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(96))
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, 0 after a success
    failures_total: Mapped[int] = mapped_column(Integer, default=0)
    runs_total: Mapped[int] = mapped_column(Integer, default=0)


class WorkerHeartbeat(db.Model):
    """A running outbox worker (a `flask outbox run` process or the web process's thread)."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "process" | "thread"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
