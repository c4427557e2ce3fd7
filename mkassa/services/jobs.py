"""Periodic jobs: each with its own interval, its own transaction, and a lease.

A job is claimed by a guarded UPDATE of its `job_state` row (due, and no live lease), so with any
number of workers, on PostgreSQL or SQLite, one of them runs it per interval. A job that raises is
rolled back, logged with its error, counted, and runs again at its next interval; the other jobs and
the outbox delivery go on (they run in another thread of the worker). The row keeps what the bank
console shows: last success, last error, failures in a row.

Jobs commit their own work. A job that asks the Bank reads what it needs, commits, asks with no
transaction open, then locks and applies one row at a time.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import JobState, utcnow

log = logging.getLogger(__name__)

# A claimed job whose worker died is claimed again after this (no job runs longer: they work in batches).
LEASE_SECONDS = 5 * 60
ERROR_MAX = 1000


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable[[], Any]
    every: timedelta


_jobs: dict[str, Job] = {}


def periodic(name: str, every_seconds: float) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a job run every `every_seconds` by one of the workers."""
    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        _jobs[name] = Job(name, fn, timedelta(seconds=every_seconds))
        return fn
    return register


def registered() -> list[Job]:
    return list(_jobs.values())


def _ensure_rows(now: datetime) -> None:
    known = set(db.session.scalars(select(JobState.name)))
    for job in _jobs.values():
        if job.name in known:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(JobState(name=job.name, next_run_at=now, failures=0, failures_total=0,
                                        runs_total=0))
        except IntegrityError:
            pass  # another worker created it first
    db.session.commit()


def _claim(job: Job, now: datetime, worker_id: str) -> bool:
    claimed = db.session.execute(
        update(JobState)
        .where(JobState.name == job.name, JobState.next_run_at <= now,
               or_(JobState.locked_until.is_(None), JobState.locked_until < now))
        .values(locked_until=now + timedelta(seconds=LEASE_SECONDS), locked_by=worker_id,
                last_started_at=now, next_run_at=now + job.every))
    db.session.commit()
    return claimed.rowcount == 1


def _run(job: Job, worker_id: str) -> str | None:
    """Run one job in a transaction of its own; returns its error, or None. Never raises."""
    try:
        job.fn()
        db.session.commit()
    except Exception as exc:  # a failing job must not stop the others, nor the worker
        db.session.rollback()
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        in_a_row = _record(job.name, worker_id, error)
        if in_a_row <= 1:  # the traceback once; a long outage then logs one line per interval
            log.exception("job %s failed", job.name)
        else:
            log.error("job %s failed again (%s in a row): %s", job.name, in_a_row, error)
        return error
    _record(job.name, worker_id, None)
    return None


def _record(name: str, worker_id: str, error: str | None) -> int:
    """Store the outcome; returns the failures in a row (0 after a success, or if it cannot tell)."""
    now = utcnow()
    values: dict[str, Any] = dict(locked_until=None, locked_by=None, last_finished_at=now,
                                  runs_total=JobState.runs_total + 1)
    if error is None:
        values.update(last_success_at=now, failures=0)
    else:
        values.update(last_error=error, last_error_at=now, failures=JobState.failures + 1,
                      failures_total=JobState.failures_total + 1)
    try:
        # Only while it still holds the lease: a worker that outlived its lease records nothing.
        db.session.execute(update(JobState).where(JobState.name == name,
                                                  or_(JobState.locked_by == worker_id,
                                                      JobState.locked_by.is_(None)))
                           .values(**values))
        failures = db.session.scalar(select(JobState.failures).where(JobState.name == name)) or 0
        db.session.commit()
        return failures
    except Exception:
        db.session.rollback()
        log.exception("could not record the outcome of job %s", name)
        return 0


def run_due(worker_id: str, now: datetime | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> dict[str, str | None]:
    """Run every job that is due and not leased by another worker; returns {name: error or None}."""
    now = now or utcnow()
    _ensure_rows(now)
    ran: dict[str, str | None] = {}
    for job in list(_jobs.values()):
        if should_stop():
            break
        if _claim(job, now, worker_id):
            ran[job.name] = _run(job, worker_id)
    return ran


def run_all(worker_id: str = "direct") -> dict[str, str | None]:
    """Run every job now, whatever its schedule (tests, `flask outbox once`); each in its own try."""
    _ensure_rows(utcnow())
    return {job.name: _run(job, worker_id) for job in list(_jobs.values())}


def states() -> list[JobState]:
    """What the console shows: every registered job's record, failing ones first."""
    rows = {row.name: row for row in db.session.scalars(select(JobState))}
    listed = [rows.get(job.name) or JobState(name=job.name, failures=0, failures_total=0, runs_total=0)
              for job in _jobs.values()]
    return sorted(listed, key=lambda row: (-(row.failures or 0), row.name))
