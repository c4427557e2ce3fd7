"""/healthz and /readyz for the load balancer, and the console's view of workers and jobs (issue #13)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from mkassa import health
from mkassa.extensions import db
from mkassa.models import AuditEvent, JobState, OutboxMessage, WorkerHeartbeat, utcnow
from mkassa.worker import HEARTBEAT_MAX_AGE


def heartbeat(age: timedelta = timedelta(0)) -> None:
    now = utcnow()
    db.session.add(WorkerHeartbeat(id="host:1:process:abc", kind="process", started_at=now - age, seen_at=now - age,
                                   delivered=3))
    db.session.commit()


def test_healthz_answers_without_signing_in(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_ready_with_a_recent_worker_and_no_backlog(client):
    with time_machine.travel(utcnow(), tick=False):
        heartbeat(HEARTBEAT_MAX_AGE)
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "not used", "outbox_backlog": "ok",
                                       "workers": "ok"}


def test_not_ready_when_no_worker_beat_recently(client):
    with time_machine.travel(utcnow(), tick=False):
        heartbeat(HEARTBEAT_MAX_AGE + timedelta(seconds=1))
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["workers"] == "silent"


def test_not_ready_when_the_outbox_falls_behind(client):
    heartbeat()
    limit = timedelta(seconds=health.OUTBOX_BACKLOG_MAX_SECONDS)
    db.session.add(OutboxMessage(kind="sms", payload={}, next_attempt_at=utcnow() - limit + timedelta(seconds=5)))
    db.session.commit()
    assert client.get("/readyz").status_code == 200  # within the limit
    db.session.execute(OutboxMessage.__table__.update().values(next_attempt_at=utcnow() - limit - timedelta(seconds=5)))
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["outbox_backlog"].startswith("behind")


def test_not_ready_when_redis_does_not_answer(app, client, monkeypatch):
    from dataclasses import replace

    from .test_worker_outage import closed_port
    # Only what /readyz reads: a whole app on a dead Redis would also move the shared rate limiter there.
    monkeypatch.setitem(app.extensions, "mkassa.settings", replace(
        app.extensions["mkassa.settings"], redis_url=f"redis://127.0.0.1:{closed_port()}/0"))
    heartbeat()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["redis"] == "down"
    assert "Connection" not in response.get_data(as_text=True)  # no error text for the outside world


@pytest.fixture
def operator(client, auth, admin_user):
    client.set_cookie("lang", "en", domain="localhost")
    auth.login("operator", "operator-pass-1")
    return auth


def test_console_shows_workers_backlog_and_failing_jobs(client, operator):
    heartbeat()
    db.session.add(JobState(name="reconcile_payments", next_run_at=utcnow(), failures=3, failures_total=5,
                            runs_total=9, last_error="URLError: <urlopen error [Errno 111] Connection refused>",
                            last_error_at=utcnow()))
    db.session.add(OutboxMessage(kind="sms", payload={}, status="dead", attempts=12))
    db.session.commit()
    html = client.get("/admin/workers").get_data(as_text=True)
    assert "host:1:process:abc" in html and "Running" in html
    row = re.search(r'<tr data-testid="job-reconcile_payments" class="flagged">(.*?)</tr>', html, re.S).group(1)
    assert "failing" in row and "Connection refused" in row
    assert re.search(r'<tr data-testid="job-close_overdue_shifts">', html)  # never run yet, not failing
    assert "Dead messages: 1" in html


def test_console_says_when_no_worker_runs(client, operator):
    heartbeat(timedelta(hours=2))  # long silent: not listed
    html = client.get("/admin/workers").get_data(as_text=True)
    assert "No worker is running" in html


def test_operator_retries_a_dead_message(client, operator):
    dead = OutboxMessage(kind="sms", payload={"phone": "+996555000111", "text": "x"}, status="dead", attempts=12,
                         next_attempt_at=utcnow() - timedelta(days=1))
    db.session.add(dead)
    db.session.commit()
    html = client.get("/admin/outbox?status=dead").get_data(as_text=True)
    assert f'data-testid="retry-{dead.id}"' in html
    response = client.post(f"/admin/outbox/{dead.id}/retry", data={"csrf_token": operator.csrf("/admin/outbox")})
    assert response.status_code == 303
    msg = db.session.get(OutboxMessage, dead.id, populate_existing=True)
    assert (msg.status, msg.attempts) == ("pending", 0) and msg.next_attempt_at <= utcnow()
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "outbox.retry"))
    db.session.commit()
    again = client.post(f"/admin/outbox/{dead.id}/retry", data={"csrf_token": operator.csrf("/admin/outbox")})
    assert again.status_code == 303
    assert "Only a dead message can be retried." in client.get(again.headers["Location"]).get_data(as_text=True)


def test_merchants_cannot_see_the_workers_page_nor_retry(client, auth, demo):
    auth.login("demo")
    assert client.get("/admin/workers").status_code in (403, 404)
    assert client.post("/admin/outbox/1/retry", data={"csrf_token": auth.csrf("/")}).status_code in (403, 404)
