"""Periodic jobs apart from delivery (issue #13): own interval, own failure record, once per interval."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from mkassa import idempotency
from mkassa.extensions import db
from mkassa.models import (IdempotencyKey, JobState, OneTimeCode, OutboxMessage, SandboxSms, UserSession,
                           WorkerHeartbeat, utcnow)
from mkassa.services import housekeeping, jobs, outbox


@pytest.fixture
def only_test_jobs(monkeypatch):
    """The registry holds just the jobs a test registers (the real ones are covered elsewhere)."""
    monkeypatch.setattr(jobs, "_jobs", {})
    calls: dict[str, int] = {}

    def add(name: str, every: float, fail: Exception | None = None):
        calls[name] = 0

        @jobs.periodic(name, every_seconds=every)
        def job():
            calls[name] += 1
            if fail is not None:
                raise fail
    return add, calls


def state(name: str) -> JobState:
    row = db.session.get(JobState, name, populate_existing=True)
    db.session.commit()
    return row


def test_a_failing_job_is_recorded_and_neither_stops_the_others_nor_delivery(app, only_test_jobs):
    add, calls = only_test_jobs
    add("bank_down", 10, ConnectionRefusedError("core bank refused"))
    add("healthy", 10)
    outbox.enqueue("sms", {"phone": "+996555000111", "text": "code 1234"})
    db.session.commit()
    ran = jobs.run_due("w1")
    assert ran["bank_down"].startswith("ConnectionRefusedError") and ran["healthy"] is None
    assert calls == {"bank_down": 1, "healthy": 1}
    failing = state("bank_down")
    assert failing.failures == 1 and failing.failures_total == 1 and "core bank refused" in failing.last_error
    assert failing.locked_until is None and failing.last_success_at is None
    assert state("healthy").last_success_at is not None
    assert outbox.dispatch_due() == 1  # delivery does not depend on the jobs at all
    assert db.session.scalar(select(func.count()).select_from(SandboxSms)) == 1


def test_each_job_runs_once_per_interval_and_a_failure_is_retried_at_the_next(app, only_test_jobs):
    add, calls = only_test_jobs
    add("every10", 10, RuntimeError("down"))
    with time_machine.travel(utcnow(), tick=False) as clock:
        jobs.run_due("w1")
        jobs.run_due("w2")  # another worker, same moment: nothing to do
        clock.shift(timedelta(seconds=9.9))
        jobs.run_due("w2")
        assert calls["every10"] == 1
        clock.shift(timedelta(seconds=0.1))
        jobs.run_due("w2")
        assert calls["every10"] == 2 and state("every10").failures == 2


def test_a_success_resets_the_failures_in_a_row(app, only_test_jobs):
    add, calls = only_test_jobs
    add("flaky", 5, RuntimeError("once"))
    with time_machine.travel(utcnow(), tick=False) as clock:
        jobs.run_due("w1")
        jobs._jobs["flaky"] = jobs.Job("flaky", lambda: None, timedelta(seconds=5))
        clock.shift(timedelta(seconds=5))
        jobs.run_due("w1")
    row = state("flaky")
    assert row.failures == 0 and row.failures_total == 1 and row.runs_total == 2


def test_a_lease_of_a_dead_worker_expires(app, only_test_jobs):
    add, calls = only_test_jobs
    add("leased", 1)
    with time_machine.travel(utcnow(), tick=False) as clock:
        jobs._ensure_rows(utcnow())
        assert jobs._claim(jobs._jobs["leased"], utcnow(), "killed-worker")  # and never finished
        clock.shift(timedelta(seconds=jobs.LEASE_SECONDS))
        jobs.run_due("w2")
        assert calls["leased"] == 0  # the lease still holds at its last second
        clock.shift(timedelta(seconds=1))
        jobs.run_due("w2")
        assert calls["leased"] == 1


def test_racing_workers_run_each_job_once_per_interval(app, only_test_jobs):
    """Eight workers at the same moment (threads with their own sessions; PostgreSQL with --db)."""
    add, calls = only_test_jobs
    for n in range(3):
        add(f"job{n}", 60)
    jobs._ensure_rows(utcnow())
    barrier = threading.Barrier(8)

    def worker(number: int):
        with app.app_context():
            barrier.wait()
            jobs.run_due(f"w{number}")
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == {"job0": 1, "job1": 1, "job2": 1}


def test_every_real_job_has_its_own_interval_and_runs(app):
    names = {job.name for job in jobs.registered()}
    assert {"reconcile_payments", "settle_sandbox_payments", "reconcile_payouts", "complete_sandbox_payouts",
            "close_overdue_shifts", "export_jobs", "purge_idempotency_keys", "purge_one_time_codes",
            "purge_delivered_outbox", "purge_sessions", "purge_silent_workers", "check_rollups"} <= names
    assert jobs.run_all() == {name: None for name in names}


# ------------------------------------------------------------------------------- housekeeping


def test_expired_idempotency_keys_are_purged_at_their_lifetime(app):
    now = utcnow()
    for age, key in ((idempotency.KEY_LIFETIME, "at-lifetime"),
                     (idempotency.KEY_LIFETIME + timedelta(seconds=1), "past")):
        db.session.add(IdempotencyKey(scope="s", key=key, request_hash="h", created_at=now - age))
    db.session.commit()
    assert housekeeping.purge_idempotency_keys(now) == 1
    assert db.session.scalars(select(IdempotencyKey.key)).all() == ["at-lifetime"]


def test_used_and_expired_codes_are_purged_after_the_retention(app, demo):
    now = utcnow()
    old = now - housekeeping.CODE_RETENTION - timedelta(seconds=1)

    def code(created, expires, used=None):
        db.session.add(OneTimeCode(user_id=demo.owner.id, purpose="p", object_key="o", phone="+996555000111",
                                   code_hash="x", created_at=created, expires_at=expires, used_at=used))
    code(old, old + timedelta(minutes=5))                  # expired long ago: goes
    code(old, old + timedelta(minutes=5), used=old)        # used long ago: goes
    code(now - housekeeping.CODE_RETENTION, now - timedelta(days=1))  # at the retention: stays
    code(old, now + timedelta(minutes=5))                  # somehow still valid: stays
    db.session.commit()
    assert housekeeping.purge_one_time_codes(now) == 2
    assert db.session.scalar(select(func.count()).select_from(OneTimeCode)) == 2


def test_delivered_outbox_rows_go_after_the_retention_pending_and_dead_stay(app):
    now = utcnow()
    keep = now - outbox.DELIVERED_RETENTION
    for status, sent_at in (("sent", keep - timedelta(seconds=1)), ("sent", keep), ("pending", None), ("dead", None)):
        db.session.add(OutboxMessage(kind="sms", payload={}, status=status, sent_at=sent_at,
                                     created_at=keep - timedelta(days=1), next_attempt_at=keep))
    db.session.commit()
    assert housekeeping.purge_delivered_outbox(now) == 1
    assert sorted(db.session.scalars(select(OutboxMessage.status))) == ["dead", "pending", "sent"]


def test_ended_sessions_are_purged_after_the_retention(app, demo):
    now = utcnow()
    before = now - housekeeping.SESSION_RETENTION
    for n, (created, seen, revoked) in enumerate((
            (now, now, None),                                        # live
            (before, before, before - timedelta(seconds=1)),         # revoked before the retention: goes
            (now - timedelta(days=1), now, now - timedelta(hours=1)),  # revoked recently: stays
            (before - timedelta(days=1), before - timedelta(days=1), None))):  # idle long ago: goes
        db.session.add(UserSession(token_hash=f"t{n}", user_id=demo.owner.id, created_at=created,
                                   last_seen_at=seen, revoked_at=revoked))
    db.session.commit()
    assert housekeeping.purge_sessions(now) == 2
    assert sorted(db.session.scalars(select(UserSession.token_hash))) == ["t0", "t2"]


def test_silent_workers_are_forgotten(app):
    now = utcnow()
    db.session.add(WorkerHeartbeat(id="old", kind="process", started_at=now, delivered=0,
                                   seen_at=now - housekeeping.WORKER_RETENTION - timedelta(seconds=1)))
    db.session.add(WorkerHeartbeat(id="new", kind="process", started_at=now, seen_at=now, delivered=0))
    db.session.commit()
    assert housekeeping.purge_silent_workers(now) == 1


def test_purge_works_in_batches(app, monkeypatch):
    monkeypatch.setattr(housekeeping, "PURGE_BATCH", 2)
    old = utcnow() - idempotency.KEY_LIFETIME - timedelta(days=1)
    for n in range(5):
        db.session.add(IdempotencyKey(scope="s", key=f"k{n}", request_hash="h", created_at=old))
    db.session.commit()
    assert housekeeping.purge_idempotency_keys() == 5


def test_a_failing_job_is_logged_with_its_error_and_a_long_outage_does_not_flood_the_log(
        app, only_test_jobs, caplog):
    add, calls = only_test_jobs
    add("bank_down", 1, ConnectionRefusedError("core bank refused"))
    with time_machine.travel(utcnow(), tick=False) as clock, caplog.at_level("ERROR", logger="mkassa.services.jobs"):
        jobs.run_due("w1")
        clock.shift(timedelta(seconds=1))
        jobs.run_due("w1")
    first, second = [r for r in caplog.records if r.name == "mkassa.services.jobs"]
    assert first.exc_info and "bank_down" in first.getMessage()
    assert not second.exc_info and "2 in a row" in second.getMessage() and "core bank refused" in second.getMessage()
