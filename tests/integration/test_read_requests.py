"""Pages read without SQLite's write lock, so an open page never holds off a payment (#19); the blind
writes a read request makes (its session's last activity) still land."""
from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event, select

from mkassa.extensions import db
from mkassa.models import UserSession, utcnow
from mkassa.services.auth import SESSION_TOUCH_SECONDS


@pytest.fixture
def sqlite_file(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locks: PostgreSQL reads take none")
    return db.engine.url.database


def _begins(client, method: str, path: str, **kwargs) -> list[str]:
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("BEGIN"):
            sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        getattr(client, method)(path, **kwargs)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return sent


def test_a_page_begins_without_the_write_lock_and_a_form_with_it(client, auth, demo, sqlite_file):
    auth.login("demo")
    assert _begins(client, "get", "/reports/?period=week") == ["BEGIN"]
    token = auth.csrf("/")
    assert _begins(client, "post", "/logout", data={"csrf_token": token}) == ["BEGIN IMMEDIATE"]


def test_a_page_is_served_while_another_connection_writes(client, auth, demo, sqlite_file):
    """Another writer holds SQLite's write lock (a webhook being credited): the page does not wait
    for it. (With BEGIN IMMEDIATE it waited the whole busy timeout, 30 s, then failed.)"""
    auth.login("demo")
    writer = sqlite3.connect(sqlite_file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    answers: list[int] = []
    try:
        page = threading.Thread(target=lambda: answers.append(client.get("/reports/").status_code))
        page.start()
        page.join(10)
        assert answers == [200]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        page.join(30)


def test_a_page_s_session_touch_lands_although_another_write_came_between(client, auth, demo, sqlite_file):
    """The page read its session, another connection committed a write, then the page wrote the
    session's last activity. A deferred transaction cannot write after that (SQLite: "database is
    locked" at once); the page takes the write lock first and the touch lands."""
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login("demo")
        clock.shift(timedelta(seconds=SESSION_TOUCH_SECONDS + 1))
        later = utcnow()

        def commit_elsewhere(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().startswith("SELECT user_session."):
                other = sqlite3.connect(sqlite_file, isolation_level=None)
                other.execute("UPDATE merchant SET display_name = display_name || '.'")
                other.close()

        event.listen(db.engine, "after_cursor_execute", commit_elsewhere)
        try:
            assert client.get("/").status_code == 200
        finally:
            event.remove(db.engine, "after_cursor_execute", commit_elsewhere)
    db.session.commit()
    touched = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.revoked_at.is_(None)))
    assert touched == later
