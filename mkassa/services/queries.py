"""Read models shared by screens: today's total and the payment history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select

from ..extensions import db
from ..models import Payment
from ..timeutil import day_bounds_utc, local_today

HISTORY_PAGE_SIZE = 30


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
    """The list position from the URL; raises ValueError on anything that is not one of ours."""
    if not raw:
        return None
    stamp, pid = raw.rsplit("_", 1)
    when = datetime.fromisoformat(stamp)
    if when.tzinfo is None:
        raise ValueError("cursor without time zone")
    return when, int(pid)


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
