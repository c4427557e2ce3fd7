"""List positions (#12.7, #14.5): one cursor format for every list; a cursor we did not write is the same
translated 400 on every list, never a 500; pages never skip or repeat a row, also among equal times."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Boolean, Column, MetaData, Table, insert, select

from mkassa.extensions import db
from mkassa.models.base import UTCDateTime
from mkassa.services import keyset
from mkassa.services.keyset import BIGINT_MAX, CURSOR_TIMES, BadCursor, decode, encode

BROKEN = "This page link is broken. Start again from the first page."
TIME_AND_ID = (datetime, int)
TICK = timedelta(microseconds=1)
EARLIEST, LATEST = CURSOR_TIMES
LAST_MICROSECOND = (LATEST - EARLIEST) // TICK - 1

# Each one was a 500, a bare "Bad request" or a cursor of the other format once: ids past 64 bits or
# not positive, times the database or Python cannot hold, signs, other digits, the wrong number of keys.
CRAFTED = [
    f"1764237600000000.{2**63}",
    "1764237600000000.99999999999999999999",
    "1764237600000000.0",
    "1764237600000000.-1",
    "1764237600000000.+5",
    "-1.1",
    f"{LAST_MICROSECOND + 1}.1",
    "253402300799999999.1",
    "1764237600000000",
    "1764237600000000.1.1",
    "1764237600000000.",
    ".1",
    "1764237600000000..1",
    "1e5.1",
    "１.１",
    "1764237600000000.1_000",
    "2026-11-27T10:00:00+00:00_1",
    "garbage",
    "_",
]

LISTS = ["/history?before={}", "/reports/rows?period=month&before={}", "/shifts/?before={}"]
CONSOLE_LISTS = ["/admin/payments", "/admin/webhooks", "/admin/payouts", "/admin/outbox", "/admin/audit",
                 "/admin/users", "/admin/"]


@pytest.mark.parametrize("cursor", CRAFTED)
def test_a_crafted_cursor_is_refused_by_the_decoder(app, cursor):
    with pytest.raises(BadCursor):
        decode(cursor, TIME_AND_ID)


def test_the_cursor_limits_hold_at_their_boundaries(app):
    assert decode(encode((EARLIEST, 1)), TIME_AND_ID) == (EARLIEST, 1)
    assert decode(encode((LATEST - TICK, BIGINT_MAX)), TIME_AND_ID) == (LATEST - TICK, BIGINT_MAX)
    for refused in ((EARLIEST - TICK, 1), (LATEST, 1), (EARLIEST, 0), (EARLIEST, BIGINT_MAX + 1)):
        with pytest.raises(BadCursor):
            decode(encode(refused), TIME_AND_ID)
    assert decode("0", (bool,)) == (False,) and decode("1", (bool,)) == (True,)
    with pytest.raises(BadCursor):
        decode("2", (bool,))


def test_the_decoder_reads_back_what_the_lists_write(app):
    position = (True, datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=timezone.utc), 2**63 - 1)
    assert decode(encode(position), (bool, datetime, int)) == position


@pytest.mark.parametrize("path", LISTS)
def test_every_merchant_list_answers_a_crafted_cursor_with_400_and_a_message(client, auth, demo, path):
    auth.login("demo")
    for cursor in CRAFTED:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path.format(quote(cursor)), headers=headers)
            assert (cursor, response.status_code) == (cursor, 400)
            assert BROKEN in response.get_data(as_text=True)
    assert client.get(path.format("")).status_code == 200  # no cursor: the first page


def test_the_message_is_translated(client, auth, demo):
    auth.login("demo")
    client.set_cookie("lang", "ru", domain="localhost")
    response = client.get("/history?before=" + quote(CRAFTED[0]))
    assert response.status_code == 400
    assert BROKEN not in response.get_data(as_text=True)
    assert "Ссылка на страницу повреждена" in response.get_data(as_text=True)


@pytest.fixture
def console(client, auth, admin_user, demo):
    auth.login("operator", "operator-pass-1")
    return demo


def test_every_console_list_answers_a_crafted_cursor_like_the_merchant_lists(client, console):
    for path in CONSOLE_LISTS:
        for cursor in CRAFTED:
            response = client.get(f"{path}?after={quote(cursor)}")
            assert (path, cursor, response.status_code) == (path, cursor, 400)
            assert BROKEN in response.get_data(as_text=True)


# ----------------------------------------------------------------------------------- the helper

# A table of its own: the helper is tried on rows nothing else writes, with a flag, a time and an id.
_probe = Table("keyset_probe", MetaData(), Column("id", BigInteger, primary_key=True, autoincrement=False),
               Column("flag", Boolean, nullable=False), Column("at", UTCDateTime, nullable=False))
PROBE_KEYS = ((_probe.c.flag, bool), (_probe.c.at, datetime), (_probe.c.id, int))
# Few distinct times, so many rows share one (and a page boundary falls among them).
PROBE_TIMES = [datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc) + k * TICK for k in range(3)]


@pytest.fixture
def probe(app):
    _probe.create(db.engine)
    try:
        yield
    finally:
        db.session.rollback()
        _probe.drop(db.engine)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.dictionaries(st.integers(1, BIGINT_MAX), st.tuples(st.booleans(), st.sampled_from(PROBE_TIMES)),
                            max_size=25),
       size=st.integers(1, 6))
def test_pages_hold_every_row_once_in_order(probe, rows, size):
    db.session.execute(_probe.delete())
    if rows:
        db.session.execute(insert(_probe), [{"id": i, "flag": f, "at": at} for i, (f, at) in rows.items()])
    expected = sorted(((f, at, i) for i, (f, at) in rows.items()), reverse=True)
    shown, cursor, pages = [], None, 0
    while True:
        page = keyset.page(select(_probe), PROBE_KEYS, cursor, size)
        assert len(page.rows) <= size
        assert page.position == (tuple(shown[-1]) if cursor else None)  # each page starts below the last
        shown += [(r.flag, r.at, r.id) for r in page.rows]
        pages += 1
        assert pages <= len(rows) + 1, "the pages go round in circles"
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert shown == expected
    assert pages == max(1, -(-len(rows) // size))  # a full last page has no empty page after it
    db.session.rollback()
