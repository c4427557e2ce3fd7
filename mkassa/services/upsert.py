"""INSERT … ON CONFLICT as prebuilt SQL, the same text on SQLite and PostgreSQL.

SQLAlchemy 2.0 does not cache the compiled form of its dialect inserts with ON CONFLICT
(`postgresql.insert` is `inherit_cache = False`): each one was compiled afresh, about a millisecond
of Python per statement on the webhook's hot path. A `text()` construct with typed bind parameters
is compiled once per process and reused, and both databases accept the same ON CONFLICT syntax
(SQLite since 3.35, RETURNING included). Columns are bound with their own types, so values are
converted as an ORM insert would (UTC datetimes, dates on SQLite).

SQL text is invisible to the session's write tracking (mkassa.durable), so `run` reports the write.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

from sqlalchemy import Table, bindparam, text
from sqlalchemy.sql.elements import TextClause

from .. import durable
from ..extensions import db


def insert_unless_exists(table: Table, columns: Sequence[str], conflict: Sequence[str],
                         returning: str | None = None) -> TextClause:
    """INSERT of `columns` that inserts nothing when a row with the same unique `conflict` columns
    exists; RETURNING `returning` yields the new row's value, or no row. One round trip where a
    SELECT, a SAVEPOINT, the INSERT and its RELEASE took four; a concurrent insert of the same key
    is waited for (PostgreSQL) and then counts as existing."""
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
           f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING")
    stmt = text(sql + (f" RETURNING {returning}" if returning else ""))
    stmt = stmt.bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    return stmt.columns(table.c[returning]) if returning else stmt


@lru_cache(maxsize=64)
def add_on_conflict(table: Table, key: tuple[str, ...], added: tuple[str, ...], rows: int) -> TextClause:
    """INSERT of `rows` rows (parameters as `numbered` makes them) that adds the `added` columns to an
    existing row with the same unique `key` instead (`count = count + excluded.count`): atomic under
    concurrency on both databases. One statement per row count, built once."""
    sets = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in added)
    return _insert_rows(table, (*key, *added), rows, f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")


@lru_cache(maxsize=64)
def insert_rows(table: Table, columns: tuple[str, ...], rows: int) -> TextClause:
    """A plain INSERT of `rows` rows in one statement (parameters as `numbered` makes them), built once
    per row count: SQLAlchemy does not cache a multi-row `insert().values([...])` either."""
    return _insert_rows(table, columns, rows)


def _insert_rows(table: Table, columns: tuple[str, ...], rows: int, tail: str = "") -> TextClause:
    values = ", ".join("(" + ", ".join(f":{c}_{n}" for c in columns) + ")" for n in range(rows))
    stmt = text(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values}{tail}")
    return stmt.bindparams(*(bindparam(f"{c}_{n}", type_=table.c[c].type) for n in range(rows) for c in columns))


def numbered(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of a multi-row statement above: row n's `column` as `column_n`."""
    return {f"{name}_{n}": value for n, row in enumerate(rows) for name, value in row.items()}


def run(stmt: TextClause, params: Mapping[str, Any] | None = None, connection=None):
    """Execute one of these statements in the request's transaction, counted as a write for
    mkassa.durable; or on `connection`, from a flush event (the flush counts itself)."""
    if connection is not None:
        return connection.execute(stmt, params or {})
    durable.wrote()
    return db.session.execute(stmt, params or {})
