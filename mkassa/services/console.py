"""The bank console's tables (D4): merchants, users, payments, webhook issues, payouts, refunds, outbox, audit.

Only bank staff reach these (every view is `@admin_required`), so the queries span all merchants.
Each table is read newest first with keyset pagination (a cursor of the last row's sort keys, not
an OFFSET), so page 300 of a busy payments table costs what page 1 does. Filters are plain GET
values, checked like any other input: an unknown value is an error next to its field, not an empty
table that looks like "nothing happened".

Never shown here: password hashes, outbox payloads (an SMS waiting to go may hold a password or a
code), SMS texts (those are only on the sandbox SMS page) and webhook bodies.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import (ApiCallback, AuditEvent, BankWebhookEvent, Merchant, OutboxMessage, Payment, Payout, Refund,
                      User, WorkerHeartbeat)
from ..models.api import CallbackStatus
from ..models.refund import RefundStatus
from ..models.payment import STATUSES as PAYMENT_STATUSES
from ..models.payout import PAYOUT_STATUSES
from ..models.system import OUTBOX_STATUSES
from ..models.user import ROLES
from . import Conflict, Invalid, audit, auth, keyset, org
from .keyset import Page

CONSOLE_PAGE_SIZE = 50
SEARCH_MAX = 64
# Outbox rows an operator must act on; sent ones are only shown when asked for.
OUTBOX_UNSENT = ("pending", "dead")
# A payload value at least this long is blanked out of an error message before it is shown: a
# gateway that echoes what it was sent must not leak an SMS text through the console.
REDACT_MIN_LENGTH = 4
REDACTED = "[…]"

EMPTY = Page([], None)


def _page(stmt: Select, keys: Sequence[keyset.Key], row_keys: Callable[[Any], tuple], cursor: str | None) -> Page:
    """One page of a console table, below `cursor` (keyset: page 300 costs what page 1 does)."""
    return keyset.page(stmt, keys, cursor, CONSOLE_PAGE_SIZE, row_keys)


# ------------------------------------------------------------------------------------------ filters


def _choice(args: dict[str, str], name: str, allowed: Sequence[str], errors: dict[str, str]) -> str | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if value not in allowed:
        errors[name] = _("Choose a value from the list.")
        return None
    return value


def _merchant(args: dict[str, str], errors: dict[str, str]) -> Merchant | None:
    public_id = (args.get("merchant") or "").strip()
    if not public_id:
        return None
    merchant = db.session.scalar(select(Merchant).where(Merchant.public_id == public_id))
    if merchant is None:
        errors["merchant"] = _("No such merchant.")
    return merchant


def _search(args: dict[str, str], name: str, errors: dict[str, str]) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > SEARCH_MAX:
        errors[name] = _("At most %(n)s characters.", n=SEARCH_MAX)
        return None
    return value or None


def _checked(args: dict[str, str], name: str) -> bool:
    return args.get(name) == "1"


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise Invalid(errors)


def merchant_choices() -> list[tuple[str, str]]:
    """(public id, "name · INN") of every merchant, by name: the options of the merchant filter."""
    rows = db.session.execute(select(Merchant.public_id, Merchant.display_name, Merchant.inn)
                              .order_by(Merchant.display_name, Merchant.id))
    return [(public_id, f"{name} · {inn}") for public_id, name, inn in rows]


# --------------------------------------------------------------------------------------- the tables


def merchants(args: dict[str, str]) -> Page:
    """Merchants with their owner, newest first; `q` finds a name or an INN."""
    errors: dict[str, str] = {}
    q = _search(args, "q", errors)
    _raise(errors)
    stmt = select(Merchant, User).join(User, (User.merchant_id == Merchant.id) & (User.role == "owner"))
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(or_(Merchant.display_name.ilike(pattern), Merchant.legal_name.ilike(pattern),
                              Merchant.inn.contains(q)))
    return _page(stmt, [(Merchant.created_at, datetime), (Merchant.id, int)],
                 lambda r: (r.Merchant.created_at, r.Merchant.id), args.get("after"))


def users(args: dict[str, str]) -> Page:
    """Owners, cashiers and bank staff; by merchant, role and whether they may sign in."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    role = _choice(args, "role", ROLES, errors)
    active = _choice(args, "active", ("1", "0"), errors)
    _raise(errors)
    stmt = select(User, Merchant).outerjoin(Merchant, Merchant.id == User.merchant_id)
    if merchant is not None:
        stmt = stmt.where(User.merchant_id == merchant.id)
    if role:
        stmt = stmt.where(User.role == role)
    if active:
        stmt = stmt.where(User.active.is_(active == "1"))
    return _page(stmt, [(User.created_at, datetime), (User.id, int)],
                 lambda r: (r.User.created_at, r.User.id), args.get("after"))


def payments(args: dict[str, str]) -> Page:
    """Payments of every merchant; `flagged` keeps the money that arrived after a cancel, expiry or failure."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    status = _choice(args, "status", PAYMENT_STATUSES, errors)
    _raise(errors)
    cashier = aliased(User)
    stmt = (select(Payment, Merchant, cashier.login.label("cashier_login"))
            .join(Merchant, Merchant.id == Payment.merchant_id)
            .outerjoin(cashier, cashier.id == Payment.cashier_id))
    if merchant is not None:
        stmt = stmt.where(Payment.merchant_id == merchant.id)
    if status:
        stmt = stmt.where(Payment.status == status)
    if _checked(args, "flagged"):
        stmt = stmt.where(Payment.flagged.is_(True))
    return _page(stmt, [(Payment.created_at, datetime), (Payment.id, int)],
                 lambda r: (r.Payment.created_at, r.Payment.id), args.get("after"))


def webhook_issues(args: dict[str, str]) -> Page:
    """Notifications refused with 422 (mismatches) and why, newest first: they wait for an operator.

    Rows are (event, payment, merchant); the payment is the one the event named, when there is one
    (e.g. the paid QR a second payer paid again), with its merchant.
    """
    stmt = (select(BankWebhookEvent, Payment, Merchant).where(BankWebhookEvent.outcome == "mismatch")
            .outerjoin(Payment, Payment.id == BankWebhookEvent.payment_id)
            .outerjoin(Merchant, Merchant.id == Payment.merchant_id))
    return _page(stmt, [(BankWebhookEvent.received_at, datetime), (BankWebhookEvent.id, int)],
                 lambda r: (r.BankWebhookEvent.received_at, r.BankWebhookEvent.id), args.get("after"))


def payouts(args: dict[str, str]) -> Page:
    """Withdrawals, those still in flight past the deadline (flagged overdue) first, then newest first."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    status = _choice(args, "status", PAYOUT_STATUSES, errors)
    _raise(errors)
    requester = aliased(User)
    stmt = (select(Payout, Merchant, requester.login.label("requester_login"))
            .join(Merchant, Merchant.id == Payout.merchant_id)
            .join(requester, requester.id == Payout.requested_by_id))
    if merchant is not None:
        stmt = stmt.where(Payout.merchant_id == merchant.id)
    if status:
        stmt = stmt.where(Payout.status == status)
    if _checked(args, "overdue"):
        stmt = stmt.where(Payout.flagged_overdue.is_(True))
    return _page(stmt, [(Payout.flagged_overdue, bool), (Payout.created_at, datetime), (Payout.id, int)],
                 lambda r: (r.Payout.flagged_overdue, r.Payout.created_at, r.Payout.id), args.get("after"))


def refunds(args: dict[str, str]) -> Page:
    """Refunds of every merchant, newest first; `status=failed` lists the ones the Bank refused."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    status = _choice(args, "status", tuple(RefundStatus), errors)
    _raise(errors)
    requester = aliased(User)
    stmt = (select(Refund, Merchant, Payment.public_id.label("payment_public_id"),
                   requester.login.label("requester_login"))
            .join(Merchant, Merchant.id == Refund.merchant_id)
            .join(Payment, Payment.id == Refund.payment_id)
            .join(requester, requester.id == Refund.requested_by_id))
    if merchant is not None:
        stmt = stmt.where(Refund.merchant_id == merchant.id)
    if status:
        stmt = stmt.where(Refund.status == status)
    return _page(stmt, [(Refund.created_at, datetime), (Refund.id, int)],
                 lambda r: (r.Refund.created_at, r.Refund.id), args.get("after"))


@dataclass(frozen=True)
class OutboxRow:
    """What the console shows of an outbox message: never its payload."""

    id: int
    kind: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


def redact(text: str | None, payload: dict[str, Any] | None) -> str | None:
    """`text` with every sizeable payload value blanked out."""
    if not text:
        return text
    for value in (payload or {}).values():
        value = str(value)
        if len(value) >= REDACT_MIN_LENGTH:
            text = text.replace(value, REDACTED)
    return text


def outbox(args: dict[str, str]) -> Page:
    """Side effects not yet delivered (pending, and dead ones an operator must see), newest first."""
    errors: dict[str, str] = {}
    status = _choice(args, "status", OUTBOX_STATUSES, errors)
    _raise(errors)
    stmt = select(OutboxMessage).where(OutboxMessage.status.in_([status] if status else OUTBOX_UNSENT))
    page = _page(stmt, [(OutboxMessage.created_at, datetime), (OutboxMessage.id, int)],
                 lambda r: (r.OutboxMessage.created_at, r.OutboxMessage.id), args.get("after"))
    rows = [OutboxRow(m.id, m.kind, m.status, m.attempts, m.created_at, m.next_attempt_at, m.sent_at,
                      redact(m.last_error, m.payload)) for m, in page.rows]
    return Page(rows, page.next_cursor)


def callbacks(args: dict[str, str]) -> Page:
    """Partners' callbacks (#18) with their attempts, newest first; by merchant and status.

    The body is not shown (it is the partner's business), only where it went and what came back."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    status = _choice(args, "status", [s.value for s in CallbackStatus], errors)
    _raise(errors)
    stmt = select(ApiCallback)
    if merchant is not None:
        stmt = stmt.where(ApiCallback.merchant_id == merchant.id)
    if status:
        stmt = stmt.where(ApiCallback.status == status)
    page = _page(stmt, [(ApiCallback.created_at, datetime), (ApiCallback.id, int)],
                 lambda r: (r.ApiCallback.created_at, r.ApiCallback.id), args.get("after"))
    return Page([c for c, in page.rows], page.next_cursor)


def audit_log(args: dict[str, str]) -> Page:
    """Who did what, newest first; by merchant, and by action (`cashier.` finds every cashier action)."""
    errors: dict[str, str] = {}
    merchant = _merchant(args, errors)
    action = _search(args, "action", errors)
    _raise(errors)
    actor = aliased(User)
    stmt = (select(AuditEvent, actor.login.label("actor_login"), Merchant.display_name.label("merchant_name"))
            .outerjoin(actor, actor.id == AuditEvent.actor_id)
            .outerjoin(Merchant, Merchant.id == AuditEvent.merchant_id))
    if merchant is not None:
        stmt = stmt.where(AuditEvent.merchant_id == merchant.id)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    return _page(stmt, [(AuditEvent.created_at, datetime), (AuditEvent.id, int)],
                 lambda r: (r.AuditEvent.created_at, r.AuditEvent.id), args.get("after"))


# ------------------------------------------------------------------------------------------ actions


def user_by_public_id(public_id: str) -> User | None:
    return db.session.scalar(select(User).where(User.public_id == public_id))


def set_user_active(user: User, active: bool, actor: User) -> User:
    """The Bank switches a person's access off or on; switched off, every session and device ends now."""
    if user.id == actor.id:
        raise Conflict(_("You cannot switch off your own access."))
    if user.is_cashier:
        # The same rules as the owner's switch (a point to work at, a phone no other active user has).
        return org.set_cashier_active(user, active, actor)
    if active and not user.active and user.phone and db.session.scalar(
            select(User.id).where(User.phone == user.phone, User.active.is_(True), User.id != user.id)):
        raise Conflict(_("This phone number already belongs to an active user."))
    if not active:
        auth.revoke_user_sessions(user)
    user.active = active
    audit.record(actor, "user.activate" if active else "user.deactivate", merchant_id=user.merchant_id, obj=user)
    return user



# ------------------------------------------------------------------------- workers, backlog, jobs


@dataclass(frozen=True)
class WorkerRow:
    id: str
    kind: str
    started_at: datetime
    seen_at: datetime
    delivered: int
    alive: bool


@dataclass(frozen=True)
class JobRow:
    name: str
    every_seconds: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    failures_total: int
    runs_total: int
    failing: bool


@dataclass(frozen=True)
class Background:
    workers: list[WorkerRow]
    due: int
    backlog_seconds: int
    dead: int
    jobs: list[JobRow]


# Workers silent for longer than this are no longer listed (they stopped without signing off).
WORKERS_SHOWN_FOR = timedelta(hours=1)


def background(now: datetime | None = None) -> Background:
    """The workers, the outbox backlog and the periodic jobs, for the console's "Workers" page."""
    from ..worker import HEARTBEAT_MAX_AGE
    from . import jobs
    from . import outbox as outbox_service
    now = now or datetime.now(timezone.utc)
    workers = [WorkerRow(w.id, w.kind, w.started_at, w.seen_at, w.delivered, now - w.seen_at <= HEARTBEAT_MAX_AGE)
               for w in db.session.scalars(select(WorkerHeartbeat)
                                           .where(WorkerHeartbeat.seen_at >= now - WORKERS_SHOWN_FOR)
                                           .order_by(WorkerHeartbeat.seen_at.desc()))]
    due = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)) or 0
    dead = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.status == "dead")) or 0
    every = {job.name: int(job.every.total_seconds()) for job in jobs.registered()}
    rows = [JobRow(s.name, every.get(s.name, 0), s.last_success_at, s.last_error, s.last_error_at,
                   s.failures or 0, s.failures_total or 0, s.runs_total or 0, bool(s.failures))
            for s in jobs.states()]
    return Background(workers, due, int(outbox_service.backlog_age_seconds(now)), dead, rows)


def retry_outbox_message(by: User, msg_id: int) -> None:
    """An operator sends a dead message again (after fixing what killed it)."""
    from . import outbox as outbox_service
    if not outbox_service.retry_dead(msg_id):
        raise Conflict(_("Only a dead message can be retried."))
    audit.record(by, "outbox.retry", data={"outbox_id": msg_id})
