"""A live home screen and its session, in Chromium (#11).

Before: a session that ended while home's stream connected sent the lock screen `next=/events`, and
after the PIN the browser showed the raw stream; a home screen left open past the idle limit went
stale silently. `demo` comes before `page`: the demo is seeded before the server starts.
"""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from mkassa.config import SESSION_IDLE_SECONDS
from mkassa.extensions import db
from mkassa.models import UserSession, utcnow

from .test_quick_access import HOME, PIN, _first_sign_in, _type_pin

LOCK_BACK_HOME = re.compile(r"/lock\?next=(/|%2F)$")


def _open_home(page) -> None:
    with page.expect_response(re.compile(r"/events$")):
        page.goto("/")
    page.get_by_test_id("history").wait_for()


def test_session_ending_while_the_stream_connects_comes_back_to_home_after_the_pin(app, demo, page):
    _first_sign_in(page)

    def end_session_then_connect(route):
        with app.app_context():  # Playwright calls this outside the test's context
            db.session.execute(update(UserSession).values(revoked_at=utcnow()))
            db.session.commit()
        route.continue_()

    page.route(re.compile(r"/events$"), end_session_then_connect)
    page.goto("/")
    page.wait_for_url(LOCK_BACK_HOME)
    page.unroute(re.compile(r"/events$"))
    page.get_by_test_id("lock-screen").wait_for()
    _type_pin(page, PIN)
    page.wait_for_url(HOME)
    page.get_by_test_id("history").wait_for()
    assert ": open" not in page.content()


def test_a_home_screen_left_open_past_the_idle_limit_turns_into_the_lock_screen(app, demo, page, monkeypatch):
    monkeypatch.setattr("mkassa.live.HEARTBEAT_SECONDS", 0.5)
    _first_sign_in(page)
    _open_home(page)
    with app.app_context():  # a fresh session: the test's own may hold an old snapshot
        db.session.execute(update(UserSession).values(
            last_seen_at=utcnow() - timedelta(seconds=SESSION_IDLE_SECONDS + 1)))
        db.session.commit()
    page.wait_for_url(LOCK_BACK_HOME, timeout=10_000)
    page.get_by_test_id("lock-screen").wait_for()
    _type_pin(page, PIN)
    page.wait_for_url(HOME)
