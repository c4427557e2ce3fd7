"""The outbox: nothing lost on failure, nothing sent twice, retries with back-off."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import OutboxMessage, SandboxSms, utcnow
from mkassa.services import outbox


@pytest.fixture
def flaky():
    calls: list[dict] = []
    state = {"fail": True}

    @outbox.handler("test.flaky")
    def deliver(payload, msg):
        calls.append(payload)
        if state["fail"]:
            raise ConnectionError("gateway down")

    yield calls, state
    outbox._handlers.pop("test.flaky", None)


def test_rolled_back_change_sends_nothing(app):
    outbox.enqueue("sms", {"phone": "+996555000111", "text": "x"})
    db.session.rollback()
    assert outbox.dispatch_due() == 0


def test_failure_is_retried_with_backoff_then_delivered_once(app, flaky):
    calls, state = flaky
    with time_machine.travel(utcnow(), tick=False) as clock:
        outbox.enqueue("test.flaky", {"n": 1})
        db.session.commit()
        assert outbox.dispatch_due() == 0
        msg = db.session.scalar(select(OutboxMessage))
        assert msg.attempts == 1 and "gateway down" in msg.last_error
        assert msg.next_attempt_at == utcnow() + timedelta(seconds=outbox.backoff_seconds(1))
        assert outbox.dispatch_due() == 0 and len(calls) == 1  # not due yet
        clock.shift(timedelta(seconds=outbox.backoff_seconds(1)))
        state["fail"] = False
        assert outbox.dispatch_due() == 1
        clock.shift(timedelta(hours=1))
        assert outbox.dispatch_due() == 0
    assert len(calls) == 2 and db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_backoff_grows_and_is_capped():
    assert [outbox.backoff_seconds(n) for n in (1, 2, 3)] == [2, 4, 8]
    assert outbox.backoff_seconds(50) == outbox.BACKOFF_MAX_SECONDS


def test_message_is_dead_after_max_attempts(app, flaky):
    with time_machine.travel(utcnow(), tick=False) as clock:
        outbox.enqueue("test.flaky", {"n": 2})
        db.session.commit()
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.dispatch_due()
            clock.shift(timedelta(seconds=outbox.BACKOFF_MAX_SECONDS))
    msg = db.session.scalar(select(OutboxMessage))
    assert msg.status == "dead" and msg.attempts == outbox.MAX_ATTEMPTS


def test_dedupe_key_queues_once(app):
    outbox.enqueue("sms", {"phone": "+996555000111", "text": "a"}, dedupe_key="once")
    outbox.enqueue("sms", {"phone": "+996555000111", "text": "a"}, dedupe_key="once")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_concurrent_dispatchers_deliver_each_sms_once(app):
    for n in range(20):
        outbox.enqueue("sms", {"phone": "+996555000111", "text": f"m{n}"})
    db.session.commit()

    def run():
        with app.app_context():
            outbox.dispatch_due()
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = db.session.scalars(select(SandboxSms.text)).all()
    assert sorted(texts) == sorted(f"m{n}" for n in range(20))


def test_delivered_sms_text_is_not_kept_in_the_outbox(app):
    outbox.enqueue("sms", {"phone": "+996555000111", "text": "code 1234"})
    db.session.commit()
    outbox.dispatch_due()
    assert "1234" not in str(db.session.scalar(select(OutboxMessage.payload)))
