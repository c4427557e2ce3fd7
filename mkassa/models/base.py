"""Shared column types and helpers for the models."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator
from ulid import ULID

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_public_id() -> str:
    """An unguessable, sortable public id (ULID, 26 chars, 80 random bits per millisecond)."""
    return str(ULID())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database.

    PostgreSQL stores timestamptz; SQLite has no time zones, so values are stored as naive UTC and
    made aware again on the way out. Naive input is refused: it is how local times sneak in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC values only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def schema_of(dialect_name: str):
    """Alembic's include_object for a database of `dialect_name`: leaves out what the models make on
    other databases only (`Index.ddl_if(dialect=...)`), which Alembic's comparison does not know."""
    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        only_on = getattr(obj, "_ddl_if", None)
        return only_on is None or only_on.dialect is None or only_on.dialect == dialect_name
    return include
