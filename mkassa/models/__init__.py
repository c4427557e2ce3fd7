"""All models, imported here so that Alembic and the app see one metadata."""
from .api import ApiCallback, ApiCallbackAttempt, ApiKey, ApiPayment
from .access import AuthAttempt, Device, OneTimeCode, OtpFailure, OtpLock, Passkey, WebAuthnChallenge
from .bank import BankWebhookEvent, SandboxBankPayment, SandboxCardPayment
from .base import utcnow
from .ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from .merchant import Merchant, Point
from .offline import PaymentReservation
from .payment import Payment, PaymentDay, PaymentHour
from .payout import Payout, SandboxBankPayout
from .push import PushSubscription
from .refund import Refund, SandboxBankRefund
from .report import ExportJob
from .shift import Shift
from .system import AuditEvent, IdempotencyKey, JobState, OutboxMessage, SandboxSms, WorkerHeartbeat
from .user import User, UserSession

__all__ = [
    "ApiCallback", "ApiCallbackAttempt", "ApiKey", "ApiPayment", "AuditEvent", "AuthAttempt", "Device", "OneTimeCode", "OtpFailure", "OtpLock", "Passkey", "WebAuthnChallenge", "BankWebhookEvent", "ExportJob", "IdempotencyKey", "LedgerAccount", "LedgerEntry", "LedgerTransfer", "Merchant",
    "JobState", "OutboxMessage", "Payment", "PaymentDay", "PaymentHour", "PaymentReservation", "Payout", "Point", "PushSubscription", "Refund", "SandboxBankRefund", "SandboxBankPayment", "SandboxBankPayout", "SandboxCardPayment", "SandboxSms", "Shift", "User", "UserSession", "WorkerHeartbeat", "utcnow",
]
