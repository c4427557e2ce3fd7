"""Append-only audit trail."""
from __future__ import annotations

from typing import Any

from ..extensions import db
from ..models import AuditEvent, User


def record(actor: User | None, action: str, *, merchant_id: int | None = None, obj: Any = None,
           data: dict[str, Any] | None = None) -> None:
    """Add an audit event to the current transaction. `data` must never hold a secret."""
    db.session.add(AuditEvent(
        actor_id=actor.id if actor is not None else None,
        merchant_id=merchant_id,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else None,
        object_id=getattr(obj, "public_id", None) if obj is not None else None,
        data=data,
    ))
