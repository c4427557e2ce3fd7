"""Working in shifts (M5.5): shift mode, opening and closing shifts, a shift's figures and history.

With shift mode on, a person (cashier, or owner taking payments) opens a shift before a payment can be
created; every payment created while a shift is open carries its id. Closing a shift, by hand or by
the nightly job, queues the shift report to the owner's confirmed address: once per shift. The
report address and the e-mails are in `shift_mail`, the report's .xlsx in `shift_report`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Merchant, Payment, Refund, Shift, User, utcnow
from ..models.payment import PaymentStatus
from ..models.refund import RefundStatus
from ..timeutil import BISHKEK, to_local
from . import Conflict, ServiceError, audit, jobs, keyset, mailer

# Shifts closed per beat of the automatic close, so one beat never holds the database long.
AUTOCLOSE_BATCH_SIZE = 100
# How often overdue shifts are looked for (seconds).
AUTOCLOSE_EVERY_SECONDS = 60
HISTORY_PAGE_SIZE = 30
STATUS_ORDER = ("succeeded", "pending", "failed", "expired", "cancelled")
METHOD_ORDER = ("qr", "card")


class ShiftRequired(ServiceError):
    """Shift mode is on and this person has no open shift: a payment cannot be taken."""

    status = 409


# ------------------------------------------------------------------------------------ settings


def set_shift_mode(merchant: Merchant, on: bool, actor: User) -> None:
    if merchant.shift_mode != on:
        merchant.shift_mode = on
        audit.record(actor, "shifts.mode_on" if on else "shifts.mode_off", merchant_id=merchant.id, obj=merchant)


# -------------------------------------------------------------------------------- open / close


def open_shift_of(user: User) -> Shift | None:
    return db.session.scalar(select(Shift).where(Shift.cashier_id == user.id, Shift.closed_at.is_(None)))


def needs_shift(user: User) -> bool:
    """True when this person must open a shift before taking a payment."""
    return bool(user.merchant and user.merchant.shift_mode) and open_shift_of(user) is None


def require_open_shift(user: User) -> Shift | None:
    """The shift a new payment belongs to (None outside shift mode); ShiftRequired when one is missing."""
    shift = open_shift_of(user)
    if shift is None and user.merchant.shift_mode:
        raise ShiftRequired(_("Open a shift before taking payments."))
    return shift


def open_shift(user: User, now: datetime | None = None) -> Shift:
    if not user.merchant.shift_mode:
        raise Conflict(_("Work in shifts is off: payments are taken without opening a shift."))
    if open_shift_of(user) is not None:
        raise Conflict(_("Your shift is already open."))
    shift = Shift(merchant_id=user.merchant_id, cashier_id=user.id, point_id=user.point_id,
                  opened_at=now or utcnow())
    try:
        # Two taps racing on PostgreSQL: the partial unique index refuses the second shift.
        with db.session.begin_nested():
            db.session.add(shift)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_("Your shift is already open.")) from None
    audit.record(user, "shift.open", merchant_id=user.merchant_id, obj=shift)
    return shift


def close_shift(shift: Shift, by: User | None, now: datetime | None = None, automatic: bool = False) -> None:
    """Close an open shift (`by` None: the automatic close) and queue its report. Once only."""
    now = now or utcnow()
    # Guarded: of two closes racing (a tap and the nightly job) exactly one wins.
    closed = db.session.execute(
        update(Shift).where(Shift.id == shift.id, Shift.closed_at.is_(None))
        .values(closed_at=now, closed_by_id=by.id if by else None, closed_automatically=automatic)
        .execution_options(synchronize_session=False))
    db.session.expire(shift)
    if closed.rowcount != 1:
        raise Conflict(_("This shift is already closed."))
    audit.record(by, "shift.close_auto" if automatic else "shift.close", merchant_id=shift.merchant_id, obj=shift)
    merchant = db.session.get(Merchant, shift.merchant_id)
    if report_address(merchant):
        mailer.queue("shift_report", {"shift_id": shift.id}, dedupe_key=f"shift-report:{shift.public_id}")


def report_address(merchant: Merchant) -> str | None:
    """Where a closed shift's report is e-mailed: the confirmed report address, or nowhere."""
    return merchant.report_email if merchant.report_email and merchant.report_email_confirmed else None


def autoclose_cutoff(now: datetime, hour: int) -> datetime:
    """The latest `hour`:00 Bishkek at or before `now`: shifts opened before it are overdue."""
    local = to_local(now)
    moment = datetime.combine(local.date(), time(hour), tzinfo=BISHKEK)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.astimezone(timezone.utc)


@jobs.periodic("close_overdue_shifts", every_seconds=AUTOCLOSE_EVERY_SECONDS)
def close_overdue_shifts(now: datetime | None = None) -> int:
    """Shifts left open past the closing hour (SHIFT_AUTOCLOSE_HOUR, default 04:00 Bishkek) close
    themselves, marked as automatic, and their report goes out like any other."""
    now = now or utcnow()
    cutoff = autoclose_cutoff(now, current_app.extensions["mkassa.settings"].shift_autoclose_hour)
    overdue = db.session.scalars(
        select(Shift).where(Shift.closed_at.is_(None), Shift.opened_at < cutoff)
        .order_by(Shift.opened_at).limit(AUTOCLOSE_BATCH_SIZE).with_for_update(skip_locked=True)).all()
    for shift in overdue:
        close_shift(shift, None, now, automatic=True)
    return len(overdue)


# ------------------------------------------------------------------------------------ summary


@dataclass(frozen=True)
class Line:
    method: str
    status: str
    count: int
    amount: int


@dataclass(frozen=True)
class Summary:
    lines: list[Line]
    count: int
    paid_count: int
    paid_amount: int
    first_at: datetime | None
    last_at: datetime | None
    duration: timedelta
    # Refunds the Bank returned of the shift's payments (issue #17), and the net of the shift.
    refunded: int = 0
    refund_count: int = 0

    @property
    def net(self) -> int:
        return self.paid_amount - self.refunded

    @property
    def duration_text(self) -> str:
        minutes = int(self.duration.total_seconds()) // 60
        return _("%(hours)d h %(minutes)02d min", hours=minutes // 60, minutes=minutes % 60)


def summarize(shift: Shift, now: datetime | None = None) -> Summary:
    """Counts and sums by method and status, first and last payment, duration: one grouped query."""
    rows = db.session.execute(
        select(Payment.method, Payment.status, func.count(), func.coalesce(func.sum(Payment.amount), 0),
               func.min(Payment.created_at), func.max(Payment.created_at))
        .where(Payment.shift_id == shift.id).group_by(Payment.method, Payment.status)).all()
    lines = sorted((Line(r[0], r[1], r[2], int(r[3])) for r in rows),
                   key=lambda ln: (METHOD_ORDER.index(ln.method), STATUS_ORDER.index(ln.status)))
    firsts = [_aware(r[4]) for r in rows]
    lasts = [_aware(r[5]) for r in rows]
    paid = [ln for ln in lines if ln.status == "succeeded"]
    end = shift.closed_at or now or utcnow()
    refund_count, refunded = db.session.execute(
        select(func.count(Refund.id), func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.shift_id == shift.id, Refund.status == RefundStatus.SUCCEEDED)).one()
    return Summary(lines=lines, count=sum(ln.count for ln in lines), paid_count=sum(ln.count for ln in paid),
                   paid_amount=sum(ln.amount for ln in paid), first_at=min(firsts) if firsts else None,
                   last_at=max(lasts) if lasts else None, duration=end - shift.opened_at,
                   refunded=int(refunded), refund_count=int(refund_count))


def _aware(value: datetime) -> datetime:
    # Aggregates bypass the column type: SQLite hands back naive UTC (or its text form).
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def paid_totals(shift_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Paid count and amount per shift, for a page of the history."""
    ids = list(shift_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Payment.shift_id, func.count(), func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.shift_id.in_(ids), Payment.status == "succeeded").group_by(Payment.shift_id))
    return {r[0]: (r[1], int(r[2])) for r in rows}


def history_page(stmt: Select, cursor: str | None = None) -> keyset.Page:
    """Shifts newest first, a page at a time; `stmt` is the caller's scoped select of Shift."""
    return keyset.page(stmt, ((Shift.opened_at, datetime), (Shift.id, int)), cursor, HISTORY_PAGE_SIZE,
                       scalars=True)


# ------------------------------------------------------------------------------------- labels


def method_label(method: str) -> str:
    return {"qr": _("QR"), "card": _("Card")}[method]


def status_label(status: str) -> str:
    return str(PaymentStatus(status).label)
