"""INSERT … ON CONFLICT DO NOTHING for the ORM, on both databases."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db


def insert_unless_exists(entity, conflict_columns: list[str]):
    """An INSERT of `entity` that inserts nothing when a row with the same unique `conflict_columns`
    exists; with `.returning(entity)` it yields the new object, or None. One round trip where a
    SELECT, a SAVEPOINT, the INSERT and its RELEASE took four; a concurrent insert of the same key
    is waited for (PostgreSQL) and then counts as existing.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(entity)
    elif dialect == "sqlite":
        stmt = sqlite.insert(entity)
    else:
        raise NotImplementedError(f"insert_unless_exists on {dialect}")
    return stmt.on_conflict_do_nothing(index_elements=conflict_columns)
