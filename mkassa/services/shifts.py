"""Working in shifts (M5.5): shift mode, opening and closing shifts, the shift report by e-mail.

With shift mode on, a person (cashier, or owner taking payments) opens a shift before a payment can be
created; every payment created while a shift is open carries its id. Closing a shift, by hand or by
the nightly job, queues the shift report to the owner's confirmed address: once per shift.
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from openpyxl import Workbook
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Merchant, Payment, Shift, User, utcnow
from ..models.payment import PaymentStatus
from ..timeutil import BISHKEK, to_local
from . import Conflict, Invalid, ServiceError, audit, export, jobs, mailer, validation

# A confirmation link for the report address works this long after it was sent.
EMAIL_CONFIRM_MAX_AGE_SECONDS = 3 * 24 * 3600
EMAIL_CONFIRM_SALT = "mkassa.shift-report-email"
# Shifts closed per beat of the automatic close, so one beat never holds the database long.
AUTOCLOSE_BATCH_SIZE = 100
# How often overdue shifts are looked for (seconds).
AUTOCLOSE_EVERY_SECONDS = 60
HISTORY_PAGE_SIZE = 30
STATUS_ORDER = ("succeeded", "pending", "failed", "expired", "cancelled")
METHOD_ORDER = ("qr", "card")
XLSX_MIMETYPE = export.XLSX_MIMETYPE


class ShiftRequired(ServiceError):
    """Shift mode is on and this person has no open shift: a payment cannot be taken."""

    status = 409


# ------------------------------------------------------------------------------------ settings


def set_shift_mode(merchant: Merchant, on: bool, actor: User) -> None:
    if merchant.shift_mode != on:
        merchant.shift_mode = on
        audit.record(actor, "shifts.mode_on" if on else "shifts.mode_off", merchant_id=merchant.id, obj=merchant)


def set_report_email(merchant: Merchant, raw: str, actor: User, confirm_url: str) -> str:
    """Set the address shift reports go to and send it a confirmation link.

    A new address is unconfirmed until its link is opened: reports never go to an address nobody
    proved to own. Sending the same address again re-sends the link (an earlier one may be lost).
    """
    try:
        address = validation.email(raw)
    except validation.FieldError as exc:
        raise Invalid({"email": str(exc)}) from None
    if address.lower() == (merchant.report_email or "").lower() and merchant.report_email_confirmed:
        return address
    merchant.report_email, merchant.report_email_confirmed = address, False
    audit.record(actor, "shifts.report_email_set", merchant_id=merchant.id, obj=merchant)
    mailer.queue("report_email_confirm", {"merchant_id": merchant.id, "email": address, "user_id": actor.id,
                                          "confirm_url": confirm_url})
    return address


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=EMAIL_CONFIRM_SALT)


def confirmation_token(merchant: Merchant, address: str) -> str:
    return _serializer().dumps({"m": merchant.public_id, "e": address})


def read_confirmation(token: str) -> tuple[Merchant, str]:
    """The merchant and address a confirmation link is for; Invalid when forged, expired or stale."""
    try:
        data = _serializer().loads(token, max_age=EMAIL_CONFIRM_MAX_AGE_SECONDS)
    except SignatureExpired:
        raise Invalid({"token": _("This link has expired. Enter the address again to get a new link.")}) from None
    except BadSignature:
        raise Invalid({"token": _("This link is not valid. Please open the link from the latest e-mail.")}) from None
    merchant = db.session.scalar(select(Merchant).where(Merchant.public_id == data.get("m")))
    if merchant is None or merchant.report_email != data.get("e"):
        # The address was changed after this link was sent: only the newest address may be confirmed.
        raise Invalid({"token": _("This link is for an address that is no longer set.")})
    return merchant, data["e"]


def confirm_report_email(token: str) -> Merchant:
    merchant, _address = read_confirmation(token)
    if not merchant.report_email_confirmed:
        merchant.report_email_confirmed = True
        audit.record(None, "shifts.report_email_confirmed", merchant_id=merchant.id, obj=merchant)
    return merchant


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
    return Summary(lines=lines, count=sum(ln.count for ln in lines), paid_count=sum(ln.count for ln in paid),
                   paid_amount=sum(ln.amount for ln in paid), first_at=min(firsts) if firsts else None,
                   last_at=max(lasts) if lasts else None, duration=end - shift.opened_at)


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


def history_page(stmt: Select, before: tuple[datetime, int] | None = None) -> tuple[list[Shift], tuple | None]:
    """Shifts newest first, a page at a time; `stmt` is the caller's scoped select of Shift."""
    if before is not None:
        stmt = stmt.where((Shift.opened_at < before[0]) | ((Shift.opened_at == before[0]) & (Shift.id < before[1])))
    rows = list(db.session.scalars(stmt.order_by(Shift.opened_at.desc(), Shift.id.desc())
                                   .limit(HISTORY_PAGE_SIZE + 1)))
    more = len(rows) > HISTORY_PAGE_SIZE
    rows = rows[:HISTORY_PAGE_SIZE]
    return rows, ((rows[-1].opened_at, rows[-1].id) if more else None)


# ------------------------------------------------------------------------------ the report


def method_label(method: str) -> str:
    return {"qr": _("QR"), "card": _("Card")}[method]


def status_label(status: str) -> str:
    return str(PaymentStatus(status).label)


def write_xlsx(target, shift: Shift, summary: Summary) -> None:
    """The shift's payments as .xlsx: a header block, one row per payment, the totals below."""
    wb = Workbook(write_only=True)
    merchant = shift.merchant
    header = [(_("Shift report"), merchant.legal_name), (_("INN"), merchant.inn),
              (_("Point"), shift.point.name if shift.point else ""), (_("Cashier"), shift.cashier.name),
              (_("Opened"), shift.opened_at), (_("Closed"), shift.closed_at),
              (_("Closed automatically"), _("Yes") if shift.closed_automatically else _("No"))]
    columns = [(_("Date and time"), 20), (_("Payment"), 28), (_("Type"), 8), (_("Status"), 12), (_("Amount"), 16),
               (_("Paid at"), 20), (_("Payer"), 24)]
    sheet = export.Sheet(wb, _("Payments"), header, columns)
    payments = db.session.scalars(select(Payment).where(Payment.shift_id == shift.id)
                                  .order_by(Payment.created_at, Payment.id))
    total = 0
    for p in payments:
        sheet.append([sheet.datetime(p.created_at), p.public_id, method_label(p.method), status_label(p.status),
                      sheet.amount(p.amount), sheet.datetime(p.paid_at) if p.paid_at else None,
                      p.card_mask or p.payer_bank])
        total += p.amount
    sheet.append([sheet.bold(_("Total")), sheet.bold(summary.count), None, None, sheet.amount(total, True)])
    sheet.append([sheet.bold(_("Paid")), sheet.bold(summary.paid_count), None, None,
                  sheet.amount(summary.paid_amount, True)])
    wb.save(target)


def report_file_name(shift: Shift) -> str:
    return f"mkassa-shift-{to_local(shift.opened_at):%Y-%m-%d-%H%M}-{shift.public_id[-6:].lower()}.xlsx"


def _owner(merchant_id: int) -> User | None:
    return db.session.scalar(select(User).where(User.merchant_id == merchant_id, User.role == "owner")
                             .order_by(User.id).limit(1))


@mailer.composer("shift_report")
def compose_shift_report(payload: dict) -> Message | None:
    shift = db.session.get(Shift, payload["shift_id"])
    merchant = shift.merchant
    if not (merchant.report_email and merchant.report_email_confirmed):
        return None  # the address was removed or changed since the close: reports go to confirmed ones only
    owner = _owner(merchant.id)
    # In the owner's language, whoever closed the shift.
    with force_locale((owner.locale if owner else None) or "ru"):
        summary = summarize(shift)
        subject = _("Shift report: %(name)s, %(date)s", name=shift.cashier.name,
                    date=f"{to_local(shift.opened_at):%d.%m.%Y}")
        context = {"shift": shift, "merchant": merchant, "summary": summary, "method_label": method_label,
                   "status_label": status_label}
        message = Message(subject=subject, recipients=[merchant.report_email],
                          body=render_template("emails/shift_report.txt", **context),
                          html=render_template("emails/shift_report.html", **context))
        out = io.BytesIO()
        write_xlsx(out, shift, summary)
    message.attach(report_file_name(shift), XLSX_MIMETYPE, out.getvalue())
    return message


@mailer.composer("report_email_confirm")
def compose_confirmation(payload: dict) -> Message | None:
    merchant = db.session.get(Merchant, payload["merchant_id"])
    if merchant.report_email != payload["email"] or merchant.report_email_confirmed:
        return None  # changed again or confirmed meanwhile: this link would be useless
    user = db.session.get(User, payload["user_id"])
    # The token is made now, not when queued: it is never stored, and its lifetime starts when it is sent.
    link = f"{payload['confirm_url']}?token={confirmation_token(merchant, payload['email'])}"
    with force_locale((user.locale if user else None) or "ru"):
        context = {"merchant": merchant, "link": link, "days": EMAIL_CONFIRM_MAX_AGE_SECONDS // 86400}
        return Message(subject=_("Confirm the address for MKASSA shift reports"), recipients=[payload["email"]],
                       body=render_template("emails/confirm_email.txt", **context),
                       html=render_template("emails/confirm_email.html", **context))
