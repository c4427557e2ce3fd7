"""Keyset pagination for every list: newest first, a page at a time, by an opaque cursor.

A page ends at its last row's sort keys; the next page is the rows strictly below them in the
list's order, never an OFFSET: page 300 of a busy table costs what page 1 does, and rows added
meanwhile neither repeat nor push a row off the list. The last key is always the row id, so rows
sharing a time are still in one strict order: none is skipped or shown twice.

The cursor is the page's last sort keys as integers joined by dots (a time in microseconds since
1970, a flag as 0 or 1, an id), one format for every list. Only what `encode` can write passes
`decode`: a cursor somebody edited becomes `BadCursor` (400, one translated message) before it can
reach the database as a value it cannot compare or hold.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, false, or_

from ..extensions import db
from . import ServiceError

# A sort key is a column and the kind of its values: datetime, bool, or int (a row id).
Key = tuple[ColumnElement, type]

# Times a row can have (its creation, by our clock) and ids a BIGINT holds: nothing else is a position.
CURSOR_TIMES = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc))
BIGINT_MAX = 2**63 - 1
_EPOCH = CURSOR_TIMES[0]
_MICROSECOND = timedelta(microseconds=1)
_PART = re.compile(r"[0-9]{1,19}", re.ASCII)  # no sign, no other digits Python's int() would read
_SEPARATOR = "."


class BadCursor(ServiceError):
    """A page link we did not write: the same 400 and message on every list."""

    status = 400

    def __init__(self) -> None:
        super().__init__(_("This page link is broken. Start again from the first page."))


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None  # the cursor of the next page; None on the last page
    position: tuple | None = None  # the sort keys this page starts below; None on the first page


def encode(values: Sequence[Any]) -> str:
    """The cursor of a position: each sort key as an integer (times exact to the microsecond)."""
    return _SEPARATOR.join(str((v - _EPOCH) // _MICROSECOND) if isinstance(v, datetime) else str(int(v))
                           for v in values)


def decode(cursor: str, kinds: Sequence[type]) -> tuple:
    """The position a cursor stands for, one value per kind; BadCursor for anything `encode` would
    not write for such a list (wrong count, signs, other digits, times or ids out of range)."""
    parts = cursor.split(_SEPARATOR)
    if len(parts) != len(kinds) or not all(_PART.fullmatch(part) for part in parts):
        raise BadCursor()
    return tuple(_value(int(part), kind) for part, kind in zip(parts, kinds))


def _value(number: int, kind: type) -> Any:
    if kind is datetime:
        if number >= (CURSOR_TIMES[1] - _EPOCH) // _MICROSECOND:
            raise BadCursor()
        return _EPOCH + number * _MICROSECOND
    if kind is bool:
        if number > 1:
            raise BadCursor()
        return bool(number)
    if not 0 < number <= BIGINT_MAX:
        raise BadCursor()
    return number


def below(keys: Sequence[Key], values: Sequence[Any]) -> ColumnElement:
    """Rows after `values` in the order of `keys`, all descending: (k1, k2, …) < (v1, v2, …) spelled
    out, since row-value comparison is not portable to SQLite's types."""
    return or_(*(and_(*(keys[j][0] == values[j] for j in range(i)), _less(keys[i][0], values[i]))
                 for i in range(len(keys))))


def _less(column: ColumnElement, value: Any) -> ColumnElement:
    """`column < value`. A flag compares only by equality in SQLAlchemy: true sorts above false (DESC
    puts it first on both databases), so below true is false, and below false is nothing."""
    if isinstance(value, bool):
        return column.is_(False) if value else false()
    return column < value


def order(keys: Sequence[Key]) -> list[ColumnElement]:
    return [column.desc() for column, _kind in keys]


def page(stmt: Select, keys: Sequence[Key], cursor: str | None, size: int,
         row_keys: Callable[[Any], Sequence[Any]] | None = None, scalars: bool = False) -> Page:
    """One page of `stmt` ordered by `keys` (all descending, the row id last), below `cursor`.

    `scalars`: the rows are single entities (their key values are read by the keys' names), else
    result rows, whose key values `row_keys(row)` reads.
    """
    position = decode(cursor, [kind for _column, kind in keys]) if cursor else None
    if position is not None:
        stmt = stmt.where(below(keys, position))
    stmt = first_page(stmt, keys, size)
    return result(list(db.session.scalars(stmt) if scalars else db.session.execute(stmt)), keys, size,
                  row_keys, position)


def first_page(stmt: Select, keys: Sequence[Key], size: int) -> Select:
    """The SELECT of a list's first `size` rows, and one more to tell whether a next page exists."""
    return stmt.order_by(*order(keys)).limit(size + 1)


def result(rows: list[Any], keys: Sequence[Key], size: int,
           row_keys: Callable[[Any], Sequence[Any]] | None = None, position: tuple | None = None) -> Page:
    """The page that the rows read by `first_page` (or `page`) make."""
    more = len(rows) > size
    rows = rows[:size]
    if row_keys is None:
        names = [column.key for column, _kind in keys]
        row_keys = lambda row: [getattr(row, name) for name in names]  # noqa: E731
    return Page(rows, encode(row_keys(rows[-1])) if more else None, position)
