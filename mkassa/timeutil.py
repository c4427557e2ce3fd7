"""Time: stored in UTC, shown in Asia/Bishkek; "today" is the Bishkek calendar day."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

BISHKEK = ZoneInfo("Asia/Bishkek")
# Asia/Bishkek is UTC+6 with no daylight saving time since 2005 (and MKASSA holds no older payments):
# the Bishkek calendar day of a moment is its UTC date after adding this offset. SQL that buckets by
# day uses the same rule (SQLite has no time zones), so Python and the database always agree.
BISHKEK_UTC_OFFSET = timedelta(hours=6)
BISHKEK_UTC_OFFSET_HOURS = 6


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_local(value: datetime) -> datetime:
    return value.astimezone(BISHKEK)


def local_today(now: datetime | None = None) -> date:
    return to_local(now or utcnow()).date()


def local_day(value: datetime) -> date:
    """The Bishkek calendar day of an aware moment (the payment_day rollup's day)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware values only")
    return (value.astimezone(timezone.utc) + BISHKEK_UTC_OFFSET).date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Bishkek calendar day, in UTC."""
    start = datetime.combine(day, time.min, tzinfo=BISHKEK)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def range_bounds_utc(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of first, end of last) in UTC, both Bishkek days, inclusive."""
    return day_bounds_utc(first)[0], day_bounds_utc(last)[1]
