"""Time: stored in UTC, shown in Asia/Bishkek; "today" is the Bishkek calendar day."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

BISHKEK = ZoneInfo("Asia/Bishkek")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_local(value: datetime) -> datetime:
    return value.astimezone(BISHKEK)


def local_today(now: datetime | None = None) -> date:
    return to_local(now or utcnow()).date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Bishkek calendar day, in UTC."""
    start = datetime.combine(day, time.min, tzinfo=BISHKEK)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def range_bounds_utc(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of first, end of last) in UTC, both Bishkek days, inclusive."""
    return day_bounds_utc(first)[0], day_bounds_utc(last)[1]
