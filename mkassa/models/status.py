"""Status columns as enums: each value written once, with the words people read and the moves it may make.

A status enum (`PaymentStatus`, `PayoutStatus`, `OutboxStatus`, `ExportStatus`, …) is a `StrEnum`, so
its members are the strings stored in the database and compare equal to them. A status people read
carries its translated `label` (lazy: rendered in the reader's language; templates use the
`status_label` filter); the class names its allowed transitions in `TRANSITIONS` (from-state →
to-states). The CHECK constraint of the column is built from the values (`check_values`), so a value
the enum does not know is refused by the database too.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint


class Status(StrEnum):
    """Base of the status enums: members are `NAME = "value", _l("Label")`, or `NAME = "value"` for a
    status no screen shows (its label is then None)."""

    label: Any  # a flask_babel LazyString, or None

    def __new__(cls, value: str, label: Any = None) -> Status:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def transitions(cls) -> Mapping[str, frozenset[str]]:
        # Declared as `TRANSITIONS = nonmember({...})` on each enum, with the values as plain strings.
        return getattr(cls, "TRANSITIONS")

    def can_become(self, target: str) -> bool:
        return target in self.transitions().get(self.value, frozenset())

    @classmethod
    def sources(cls, target: str) -> tuple[Status, ...]:
        """The states that may move to `target`: the guard of a conditional UPDATE."""
        return tuple(member for member in cls if target in cls.transitions().get(member.value, frozenset()))

    @classmethod
    def choices(cls) -> list[tuple[str, Any]]:
        """(value, label) pairs in declaration order: the options of a status filter."""
        return [(member.value, member.label) for member in cls]


def check_values(column: str, values: Iterable[str], name: str = "status") -> CheckConstraint:
    """`column IN (...)` over an enum's values, as a named CheckConstraint (ck_<table>_<name>)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)
