"""The payment_day and payment_hour rollups: kept exact in the same transaction as every change of a payment.

One choke point for row-by-row changes: a listener on every ORM flush sees each Payment inserted,
changed or deleted (services.payments.transition, accept, the static-QR webhook, demo data, and tests
that add payments directly) and turns them into deltas per rollup key: +1 for a new payment, −1 on its
old key and +1 on its new key when its status (or any other keyed column) changes. The deltas of a
flush go to each table in ONE upsert (`count = count + excluded.count`), atomic under concurrency on
SQLite and PostgreSQL; nothing is read and written back in Python. Rows are written in key order, and
payment_day before payment_hour, so two flushes never lock the same rows in opposite orders.

payment_hour holds a whole shop's hour per method and status: the rows every till of the shop moves.
They are locked in the same transactions as the shop's own ledger account (services.ledger); inside
a hotrows.last() block (a webhook's ingest) both are written at its end, so their locks are held
only from there to COMMIT.

Bulk loads that bypass the ORM (services.bigdata) call `add_from_payments` once at the end: one
INSERT … SELECT … GROUP BY over the rows they inserted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import Date, Table, cast, delete, event, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from ..extensions import db
from ..models import Payment, PaymentDay, PaymentHour, utcnow
from ..models.payment import NO_ID
from ..timeutil import BISHKEK, BISHKEK_UTC_OFFSET_HOURS, day_bounds_utc, local_day
from . import hotrows, jobs, upsert

log = logging.getLogger(__name__)

# The periodic check compares the rollups with the payments of the last CHECK_DAYS Bishkek days (today
# included) and rebuilds them if they differ. A payment changed without the listener leaves them off:
# between a migration that adds a rollup and the new code on every node, the old code still writes
# payments (docs/DEPLOY.md: migrations first); so does anything that writes payments with raw SQL.
CHECK_DAYS = 3
CHECK_EVERY_SECONDS = 15 * 60

KEY_COLUMNS = ("merchant_id", "created_at", "point_id", "cashier_id", "method", "status")
TABLE = PaymentDay.__table__
CONFLICT_KEY = ("merchant_id", "day", "point_id", "cashier_id", "method", "status")
HOUR_TABLE = PaymentHour.__table__
HOUR_KEY = ("merchant_id", "hour", "method", "status")

Key = tuple[int, date, int, int, str, str]
HourKey = tuple[int, datetime, str, str]


def _old_and_new(payment: Payment, name: str):
    history = attributes.get_history(payment, name)
    if history.added or history.deleted:
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        return old, new
    value = history.unchanged[0] if history.unchanged else getattr(payment, name)
    return value, value


def _key(merchant_id, created_at, point_id, cashier_id, method, status) -> Key:
    return (merchant_id, local_day(created_at), NO_ID if point_id is None else point_id,
            NO_ID if cashier_id is None else cashier_id, method, status)


def _hour(created_at: datetime) -> datetime:
    """The first moment of created_at's UTC hour (payment_hour.hour)."""
    return created_at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def hour_key(day_key: Key, created_at: datetime) -> HourKey:
    merchant_id, _day, _point, _cashier, method, status = day_key
    return merchant_id, _hour(created_at), method, status


def _collect(session: Session) -> tuple[dict[Key, list[int]], dict[HourKey, list[int]]]:
    """The flush's deltas to payment_day and to payment_hour: key -> [count, amount]."""
    deltas: dict[Key, list[int]] = {}
    hours: dict[HourKey, list[int]] = {}

    def add(key: Key, count: int, amount: int, created_at: datetime) -> None:
        _add(deltas, key, count, amount)
        _add(hours, hour_key(key, created_at), count, amount)

    for obj in session.new:
        if isinstance(obj, Payment):
            add(_key(*(getattr(obj, c) for c in KEY_COLUMNS)), 1, obj.amount, obj.created_at)
    for obj in session.dirty:
        if not isinstance(obj, Payment) or not session.is_modified(obj, include_collections=False):
            continue
        pairs = [_old_and_new(obj, c) for c in (*KEY_COLUMNS, "amount")]
        old, new = [p[0] for p in pairs], [p[1] for p in pairs]
        if old != new:  # created_at is KEY_COLUMNS[1]
            add(_key(*old[:-1]), -1, -old[-1], old[1])
            add(_key(*new[:-1]), 1, new[-1], new[1])
    for obj in session.deleted:
        if isinstance(obj, Payment):
            old = [_old_and_new(obj, c)[0] for c in (*KEY_COLUMNS, "amount")]
            add(_key(*old[:-1]), -1, -old[-1], old[1])
    return _nonzero(deltas), _nonzero(hours)


def _add(table: dict, key: tuple, count: int, amount: int) -> None:
    slot = table.setdefault(key, [0, 0])
    slot[0] += count
    slot[1] += amount


def _nonzero(table: dict) -> dict:
    return {k: v for k, v in table.items() if v != [0, 0]}


def _insert(dialect_name: str, table):
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"{table.name} upsert on {dialect_name}")


def _upsert(stmt, key_columns):
    table = stmt.table
    return stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in key_columns],
        set_={"count": table.c.count + stmt.excluded.count,
              "amount_sum": table.c.amount_sum + stmt.excluded.amount_sum})


def apply(connection, deltas: dict[Key, list[int]], hours: dict[HourKey, list[int]] | None = None) -> None:
    """Add the deltas to payment_day, then the hours' to payment_hour, each in one atomic upsert, rows in
    key order (prebuilt SQL per row count: the dialects' ON CONFLICT inserts are compiled afresh every
    time, see services.upsert)."""
    for table, key_columns, rows in ((TABLE, CONFLICT_KEY, deltas), (HOUR_TABLE, HOUR_KEY, hours or {})):
        if not rows:
            continue
        params = upsert.numbered([dict(zip(key_columns, key), count=count, amount_sum=amount)
                                  for key, (count, amount) in sorted(rows.items())])
        upsert.run(upsert.add_on_conflict(table, key_columns, ("count", "amount_sum"), len(rows)), params,
                   connection=connection)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context) -> None:
    # Pre-flush state and attribute history are still available here; the upserts run on the flush's
    # connection, inside the same transaction (and savepoint) as the payment rows they account for.
    deltas, hours = _collect(session)
    if deltas or hours:
        hotrows.write(session, HOT_ORDER, _write, (deltas, hours))


HOT_ORDER = 0  # held rollup deltas are written before held balance moves (services.hotrows)


def _write(session: Session, held: list[tuple[dict, dict]]) -> None:
    """The deltas of a flush, or of a hotrows.last() block's flushes summed per key, in one upsert per table."""
    deltas: dict[Key, list[int]] = {}
    hours: dict[HourKey, list[int]] = {}
    for flush_deltas, flush_hours in held:
        for table, rows in ((deltas, flush_deltas), (hours, flush_hours)):
            for key, (count, amount) in rows.items():
                _add(table, key, count, amount)
    apply(session.connection(), _nonzero(deltas), _nonzero(hours))


def day_expression(created_at, dialect_name: str):
    """The Bishkek day of a created_at column, in SQL: the rule of timeutil.local_day.

    Constants are literals, not parameters: PostgreSQL matches GROUP BY expressions to the SELECT list
    textually, and two bound parameters never match.
    """
    if dialect_name == "postgresql":
        # (created_at AT TIME ZONE 'Asia/Bishkek')::date
        return cast(func.timezone(literal_column(f"'{BISHKEK}'"), created_at), Date)
    return func.date(created_at, literal_column(f"'+{BISHKEK_UTC_OFFSET_HOURS} hours'"))


def hour_expression(created_at, dialect_name: str):
    """The first moment of a created_at column's UTC hour, in SQL: the rule of `_hour`, as the column
    type stores it (SQLite: the text SQLAlchemy writes for a naive UTC datetime)."""
    if dialect_name == "postgresql":
        return func.date_trunc(literal_column("'hour'"), created_at, literal_column("'UTC'"))
    return func.strftime(literal_column("'%Y-%m-%d %H:00:00.000000'"), created_at)


def _or_none(column):
    return func.coalesce(column, literal_column(str(NO_ID)))


@dataclass(frozen=True)
class _Rollup:
    """What the bulk load, the check and the repair need to know of one rollup table."""

    table: Table
    key: tuple[str, ...]
    grouping: Callable[[Any, str], tuple]  # (payment columns, dialect name) -> the key, in SQL
    as_key: Callable[[tuple], tuple]  # a key read from the database, as Python compares it
    since: Callable[[datetime], Any]  # the table's rows of the payments created from a window_start on


_ROLLUPS = (
    _Rollup(TABLE, CONFLICT_KEY,
            lambda p, d: (p.merchant_id, day_expression(p.created_at, d), _or_none(p.point_id),
                          _or_none(p.cashier_id), p.method, p.status),
            lambda k: (k[0], _as_date(k[1]), *k[2:]),  # SQLite returns the GROUP BY day as text
            lambda since: TABLE.c.day >= local_day(since)),
    _Rollup(HOUR_TABLE, HOUR_KEY,
            lambda p, d: (p.merchant_id, hour_expression(p.created_at, d), p.method, p.status),
            lambda k: (k[0], _as_hour(k[1]), *k[2:]),
            lambda since: HOUR_TABLE.c.hour >= since),
)


def _grouped(rollup: _Rollup, dialect_name: str, *where):
    """The rollup's rows as a GROUP BY over the payments matching `where`: key, count, amount."""
    p = Payment.__table__.c
    key = rollup.grouping(p, dialect_name)
    return select(*key, func.count(), func.sum(p.amount)).where(*where).group_by(*key)


def add_from_payments(session: Session, *where) -> None:
    """Add the payments matching `where` to both rollups, one INSERT … SELECT … GROUP BY each (bulk loads)."""
    connection = session.connection()
    for rollup in _ROLLUPS:
        stmt = _insert(connection.dialect.name, rollup.table).from_select(
            [*rollup.key, "count", "amount_sum"], _grouped(rollup, connection.dialect.name, *where))
        connection.execute(_upsert(stmt, rollup.key))


def differences(session: Session, since: datetime | None = None) -> list[tuple]:
    """Differences between the rollups and GROUP BYs over payments (empty when exact): everything, or
    the payments created `since` (the first moment of a Bishkek day, `window_start`) and their rows."""
    dialect_name = session.get_bind().dialect.name
    paid_since = [] if since is None else [Payment.__table__.c.created_at >= since]
    found: set = set()
    for rollup in _ROLLUPS:
        width = len(rollup.key)

        def rows(stmt):
            return {(rollup.as_key(tuple(r[:width])), (int(r[width]), int(r[width + 1])))
                    for r in session.execute(stmt)}

        truth = rows(_grouped(rollup, dialect_name, *paid_since))
        kept = {row for row in rows(select(*(rollup.table.c[n] for n in rollup.key), rollup.table.c.count,
                                             rollup.table.c.amount_sum)
                                      .where(*([] if since is None else [rollup.since(since)])))
                if row[1] != (0, 0)}
        found |= truth ^ kept
    return sorted(found, key=repr)


def window_start(now: datetime, days: int = CHECK_DAYS) -> datetime:
    """The first moment (UTC) of the Bishkek day `days - 1` days before `now`'s: a window of whole days,
    so that it holds whole payment_day rows and whole payment_hour rows alike."""
    return day_bounds_utc(local_day(now) - timedelta(days=days - 1))[0]


def repair(session: Session, since: datetime) -> None:
    """Rebuild both rollups from the payments created `since` (a `window_start`), in the caller's
    transaction. Writers of payments are held off until it commits: on PostgreSQL by a lock on the
    rollup tables (a writer's upsert waits; what it changed in payments is not yet seen, and its delta
    lands after the rebuild), on SQLite by the write lock every transaction takes (BEGIN IMMEDIATE)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {TABLE.name}, {HOUR_TABLE.name} IN EXCLUSIVE MODE")
    for rollup in reversed(_ROLLUPS):
        connection.execute(delete(rollup.table).where(rollup.since(since)))
    add_from_payments(session, Payment.__table__.c.created_at >= since)


@jobs.periodic("check_rollups", every_seconds=CHECK_EVERY_SECONDS)
def check_rollups(now: datetime | None = None, days: int = CHECK_DAYS) -> int:
    """Compare the rollups of the last `days` days with the payments, and rebuild them if they differ;
    returns the differing rows found. The comparison reads one snapshot (PostgreSQL: REPEATABLE READ;
    payments and their rollup rows are committed together, so a snapshot agrees unless something went
    around the listener) and holds no lock; only a repair does."""
    since = window_start(now or utcnow(), days)
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    found = differences(db.session, since)
    db.session.commit()
    if found:
        log.warning("rollups differed from the payments in %d rows since %s: rebuilt", len(found), since.isoformat())
        repair(db.session, since)
        db.session.commit()
    return len(found)



def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _as_hour(value) -> datetime:
    """An hour as payment_hour keeps it (aware UTC), from SQLite's text or PostgreSQL's timestamptz."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
