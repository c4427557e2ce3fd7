"""Crafted list positions (#12.7): every list answers a cursor it did not write with a clear 4xx, never a 500."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from mkassa.services.queries import decode_cursor, encode_cursor

BROKEN = "This page link is broken. Start again from the first page."

# Each one was a 500 or a bare "Bad request" before: ids past 64 bits, times Python or the database
# cannot hold or shift to UTC, no time zone, no id, garbage.
CRAFTED = [
    "2026-11-27T10:00:00+00:00_99999999999999999999",
    f"2026-11-27T10:00:00+00:00_{2**63}",
    "2026-11-27T10:00:00+00:00_-1",
    "2026-11-27T10:00:00+00:00_+5",
    "2026-11-27T10:00:00+00:00_1_000",
    "9999-12-31T23:59:59+00:00_1",
    "9999-12-31T23:59:59-05:00_1",
    "0001-01-01T00:00:00+05:00_1",
    "0001-01-01T00:00:00+00:00_1",
    "2026-11-27T10:00:00_5",
    "2026-11-27T10:00:00+00:00",
    "2026-02-30T10:00:00+00:00_1",
    "garbage",
    "_",
    "２０２６-11-27T10:00:00+00:00_1",
    "2026-11-27T10:00:00+00:00_１",
]

LISTS = ["/history?before={}", "/reports/rows?period=month&before={}", "/shifts/?before={}"]


@pytest.mark.parametrize("cursor", CRAFTED)
def test_a_crafted_cursor_is_refused_by_the_decoder(cursor):
    with pytest.raises(ValueError):
        decode_cursor(cursor)


def test_the_cursor_limits_hold_at_their_boundaries():
    from datetime import timedelta

    from mkassa.services.queries import BIGINT_MAX, CURSOR_TIMES
    earliest, latest = CURSOR_TIMES
    tick = timedelta(microseconds=1)
    assert decode_cursor(encode_cursor((earliest, 1))) == (earliest, 1)
    assert decode_cursor(encode_cursor((latest - tick, BIGINT_MAX))) == (latest - tick, BIGINT_MAX)
    for refused in ((earliest - tick, 1), (latest, 1), (earliest, 0), (earliest, BIGINT_MAX + 1)):
        with pytest.raises(ValueError):
            decode_cursor(encode_cursor(refused))


def test_the_decoder_reads_back_what_the_lists_write():
    from datetime import datetime, timezone
    position = (datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=timezone.utc), 2**63 - 1)
    assert decode_cursor(encode_cursor(position)) == position


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


CONSOLE_LISTS = ["/admin/payments", "/admin/webhooks", "/admin/payouts", "/admin/outbox", "/admin/audit",
                 "/admin/users", "/admin/"]
CONSOLE_CRAFTED = ["abc", "1.2.3", "99999999999999999999999.1", f"1.{2**63}", f"{-2**63}.1", "1.-1",
                   # microseconds since 1970: the last and first instants Python holds, and past them
                   "253402300799999999.1", "253402300800000000.1", "-62135596800000000.1",
                   "-62135596800000001.1", "1e5.1", "１.１"]


@pytest.fixture
def console(client, auth, admin_user, demo):
    auth.login("operator", "operator-pass-1")
    return demo


def test_every_console_list_answers_a_crafted_cursor_without_a_500(client, console):
    """The console's cursors (integers, checked by services.console) refuse with the same message."""
    for path in CONSOLE_LISTS:
        for cursor in CONSOLE_CRAFTED:
            response = client.get(f"{path}?after={quote(cursor)}")
            assert (path, cursor, response.status_code) in {(path, cursor, 200), (path, cursor, 422)}
            if response.status_code == 422:
                assert BROKEN in response.get_data(as_text=True)
