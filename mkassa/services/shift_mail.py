"""Shift reports by e-mail (M5.5): the report address's confirmation link, and the two messages.

The address a report goes to is proved by a signed link first (`set_report_email` sends it); the
composers build the messages when the outbox delivers them, in the recipient's language.
"""
from __future__ import annotations

import io

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from ..extensions import db
from ..models import Merchant, Shift, User
from ..timeutil import to_local
from . import Invalid, audit, mailer, validation
from .export import XLSX_MIMETYPE
from .shift_report import report_file_name, write_xlsx
from .shifts import method_label, status_label, summarize

# A confirmation link for the report address works this long after it was sent.
EMAIL_CONFIRM_MAX_AGE_SECONDS = 3 * 24 * 3600
EMAIL_CONFIRM_SALT = "mkassa.shift-report-email"


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
