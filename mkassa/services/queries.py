"""Read models shared by screens: today's total and the payment history."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Select, and_, func, or_, select

from ..extensions import db
from ..models import Payment
from ..timeutil import day_bounds_utc, local_today

HISTORY_PAGE_SIZE = 30
# A list position is a row's (time, id): times a row can have, ids a BIGINT holds.
CURSOR_TIMES = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc))
BIGINT_MAX = 2**63 - 1
_CURSOR = re.compile(r"(?P<stamp>[0-9][0-9T:.+-]{9,40})_(?P<id>[0-9]{1,19})", re.ASCII)


@dataclass(frozen=True)
class DayTotal:
    amount: int
    count: int


def today_total(scoped_payments: Select, now: datetime | None = None) -> DayTotal:
    """Succeeded payments paid during today's Bishkek day, within the caller's scope."""
    start, end = day_bounds_utc(local_today(now))
    sub = scoped_payments.where(Payment.status == "succeeded", Payment.paid_at >= start,
                                Payment.paid_at < end).subquery()
    amount, count = db.session.execute(select(func.coalesce(func.sum(sub.c.amount), 0), func.count())
                                       .select_from(sub)).one()
    return DayTotal(int(amount), int(count))


def encode_cursor(cursor: tuple[datetime, int] | None) -> str | None:
    """A list position for a URL: the last row's (created_at, id)."""
    return f"{cursor[0].isoformat()}_{cursor[1]}" if cursor else None


def decode_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """The list position from the URL; raises ValueError on anything that is not one of ours.

    Only what encode_cursor writes passes: an ISO time with an offset, inside CURSOR_TIMES, and a row
    id that fits a BIGINT. Anything else (ids past 64 bits, times Python cannot shift to UTC, dates at
    the edge of what a database holds) would otherwise reach the database and end as a 500.
    """
    if not raw:
        return None
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise ValueError("not a list position")
    when = datetime.fromisoformat(match["stamp"])  # ValueError: 30 February and the like
    if when.tzinfo is None:
        raise ValueError("cursor without time zone")
    try:
        when = when.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the last instant Python holds
        raise ValueError("cursor time out of range") from None
    row_id = int(match["id"])
    if not (CURSOR_TIMES[0] <= when < CURSOR_TIMES[1] and 0 < row_id <= BIGINT_MAX):
        raise ValueError("cursor out of range")
    return when, row_id


def history_page(scoped_payments: Select, before: tuple[datetime, int] | None = None,
                 size: int = HISTORY_PAGE_SIZE) -> tuple[list[Payment], tuple[datetime, int] | None]:
    """Newest first, keyset-paginated on (created_at, id) so deep pages stay fast."""
    stmt = scoped_payments
    if before is not None:
        created, pid = before
        stmt = stmt.where(or_(Payment.created_at < created, and_(Payment.created_at == created, Payment.id < pid)))
    rows = list(db.session.scalars(stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, ((rows[-1].created_at, rows[-1].id) if more else None)
