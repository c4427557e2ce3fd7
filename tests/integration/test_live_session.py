"""A live screen and its session (#11): the lock screen never returns to a stream, streams are not
activity, and a stream whose session ended tells its page where to go."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import update

from mkassa.config import SESSION_IDLE_SECONDS
from mkassa.extensions import db
from mkassa.models import UserSession, utcnow
from mkassa.security import is_page_path

from .test_quick_access import create_pin, post

# What htmx's SSE extension sends when home (or a pending payment) opens its stream.
STREAM_HEADERS = {"HX-Request": "true", "HX-Current-URL": "http://localhost/", "Accept": "text/html, text/event-stream"}


def end_sessions() -> None:
    db.session.execute(update(UserSession).values(revoked_at=utcnow()))
    db.session.commit()


def next_of(location: str) -> str | None:
    return parse_qs(urlsplit(location).query).get("next", [None])[0]


@pytest.fixture
def known_device(client, auth, demo):
    auth.login("demo")
    create_pin(client, auth)
    return demo


def test_a_stream_that_lost_its_session_sends_the_page_to_the_lock_screen_and_back_to_itself(client, known_device):
    end_sessions()
    response = client.get("/events", headers=STREAM_HEADERS)
    assert response.status_code == 401
    target = response.headers["HX-Redirect"]
    assert urlsplit(target).path == "/lock" and next_of(target) == "/"  # it was /events


def test_a_pending_payment_stream_returns_to_the_payment_page(client, known_device):
    end_sessions()
    headers = {**STREAM_HEADERS, "HX-Current-URL": "http://localhost/pay/01ABC"}
    response = client.get("/pay/01ABC/events", headers=headers)
    assert next_of(response.headers["HX-Redirect"]) == "/pay/01ABC"


def test_opening_a_stream_directly_is_refused_without_a_next(client, demo):
    response = client.get("/events")
    assert response.status_code == 401 and "Location" not in response.headers


def test_another_sites_page_is_never_a_next(client, known_device):
    end_sessions()
    response = client.get("/events", headers={**STREAM_HEADERS, "HX-Current-URL": "http://evil.example/"})
    assert next_of(response.headers["HX-Redirect"]) is None


@pytest.mark.parametrize("target, page", [("/events", False), ("/pay/01ABC/events", False),
                                          ("/sandbox/sms.json", False),
                                          ("/", True), ("/profile/", True), ("/reports/?period=week", True),
                                          ("/reports", True), ("//evil.example/", False), ("/no-such-page", False)])
def test_page_paths(app, target, page):
    with app.test_request_context("/"):
        assert is_page_path(target) is page


def test_the_lock_screen_never_lands_on_a_stream(client, auth, known_device):
    end_sessions()
    response = post(client, auth, "/lock?next=/events", {"pin": "4826"}, page="/lock")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_stream_is_not_activity_and_lets_the_session_idle_out(client, auth, demo):
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login("demo")
        clock.shift(timedelta(seconds=SESSION_IDLE_SECONDS - 60))
        client.get("/events", headers=STREAM_HEADERS, buffered=False).close()  # reconnects by itself
        clock.shift(timedelta(seconds=61))
        assert client.get("/").status_code == 302  # idle: the stream kept nothing alive


def test_a_stream_whose_session_ended_says_where_to_go_and_closes(client, auth, known_device, monkeypatch):
    monkeypatch.setattr("mkassa.live.HEARTBEAT_SECONDS", 0.05)
    stream = client.get("/events", headers=STREAM_HEADERS, buffered=False)
    chunks = iter(stream.response)
    assert next(chunks).startswith(b": open")
    assert next(chunks).startswith(b": ping")  # alive: nothing to say
    # Left open past the idle limit: the next wake-up finds the session gone.
    db.session.execute(update(UserSession).values(
        last_seen_at=utcnow() - timedelta(seconds=SESSION_IDLE_SECONDS + 1)))
    db.session.commit()
    message = b"".join(chunks).decode()  # the stream ends by itself
    assert message.startswith("event: session-ended\ndata: /lock?next=")
    assert next_of(message.split("data: ")[1].strip()) == "/"
    stream.close()
