"""All models, imported here so that Alembic and the app see one metadata."""
from .base import utcnow
from .ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from .merchant import Merchant, Point
from .payment import Payment
from .system import AuditEvent, IdempotencyKey, OutboxMessage, SandboxSms
from .user import User, UserSession

__all__ = [
    "AuditEvent", "IdempotencyKey", "LedgerAccount", "LedgerEntry", "LedgerTransfer", "Merchant",
    "OutboxMessage", "Payment", "Point", "SandboxSms", "User", "UserSession", "utcnow",
]
