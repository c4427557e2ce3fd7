"""The sandbox bank's pages (mounted only when BANK_MODE=sandbox): the SMS and e-mail outboxes, the payer…"""
from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from ...blueprints.common import safe_next
from ...extensions import db
from ...models import SandboxSms
from ...security import not_a_page
from ...services import Invalid, mailer
from . import bank

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

SMS_SHOWN = 100


def _messages():
    stmt = select(SandboxSms).order_by(SandboxSms.id.desc()).limit(SMS_SHOWN)
    phone = request.args.get("phone", "").strip().replace(" ", "")
    if phone:
        stmt = stmt.where(SandboxSms.phone.contains(phone.lstrip("+")))
    return list(db.session.scalars(stmt))


@bp.get("/sms")
def sms():
    return render_template("sandbox/sms.html", messages=_messages(), phone=request.args.get("phone", ""))


@bp.get("/sms.json")
@not_a_page
def sms_json():
    return jsonify([{"id": m.id, "phone": m.phone, "sender": m.sender, "text": m.text,
                     "created_at": m.created_at.isoformat()} for m in _messages()])


@bp.get("/mail")
def mail():
    """E-mails of the embedded default: without MAIL_SERVER they land in instance/mail/, read here."""
    return render_template("sandbox/mail.html", messages=mailer.stored_messages())


@bp.get("/mail/<int:message_id>")
def mail_message(message_id: int):
    message = mailer.stored_message(message_id)
    if message is None:
        abort(404)
    return render_template("sandbox/mail_message.html", message=message)


@bp.get("/mail/<int:message_id>/attachments/<int:index>")
def mail_attachment(message_id: int, index: int):
    found = mailer.stored_attachment(message_id, index)
    if found is None:
        abort(404)
    name, content_type, data = found
    # Always a download, never rendered in the page.
    return current_app.response_class(data, mimetype=content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff"})


@bp.get("/pay")
def payer():
    """The payer's bank app: `?link=…`, or `#<fragment>` (read by the page's script, which browsers
    never send to a server)."""
    link = request.args.get("link", "").strip()
    if not link:
        return render_template("sandbox/payer.html", link="", parsed=None, errors={}, **_payer_choices())
    try:
        parsed = bank.read_link(link)
    except Invalid as exc:
        return render_template("sandbox/payer.html", link=link, parsed=None, errors=exc.errors,
                               **_payer_choices()), 422
    return render_template("sandbox/payer.html", link=link, parsed=parsed, errors={}, **_payer_choices())


@bp.post("/pay")
def payer_pay():
    form = request.form
    link, delivery = form.get("link", ""), form.get("delivery", "now")
    delivery = delivery if delivery in bank.DELIVERIES else "now"
    try:
        row = bank.pay(link, form.get("amount", ""), form.get("payer_bank", ""))
    except Invalid as exc:
        parsed = None if "link" in exc.errors else bank.read_link(link)
        return render_template("sandbox/payer.html", link=link, parsed=parsed, errors=exc.errors,
                               amount=form.get("amount", ""), **_payer_choices()), 422
    url = request.host_url + "bank/webhooks"
    settings = current_app.extensions["mkassa.settings"]
    if delivery == "late":
        bank.queue_late(row, url, settings)
    # Read before the commit: touching the row afterwards would open a new transaction, and MKASSA's
    # webhook handler, called over HTTP below, needs the database this request must not hold (SQLite).
    bodies, amount, bank_txn_id = bank.messages(row), row.amount, row.bank_txn_id
    # The bank records its transfer before it notifies.
    db.session.commit()
    results = [] if delivery == "late" else bank.notify(bodies, delivery, url, settings.webhook_secret)
    return render_template("sandbox/payer_done.html", amount=amount, bank_txn_id=bank_txn_id, delivery=delivery,
                           results=results)


def _payer_choices() -> dict:
    return {"banks": bank.PAYER_BANKS, "deliveries": bank.DELIVERIES}


# ------------------------------------------------------------------------------ MPOS simulator


def _mpos_return_path(return_url: str) -> str | None:
    """The page of this app MPOS sends the person back to. MKASSA gives an absolute URL on its public
    address; the simulator is part of the same app, so it keeps the path and query only (the test
    servers listen on other ports than PUBLIC_BASE_URL says), and never leads off-site."""
    parts = urlsplit(return_url)
    if parts.scheme not in ("", "http", "https"):
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


def _with_hint(path: str, hint: str | None) -> str:
    if hint is None:
        return path
    return f"{path}{'&' if '?' in path else '?'}mpos={hint}"


@bp.get("/mpos")
def mpos():
    """The MPOS app, as MKASSA opens it: `?payment_id=…&amount=…&return_url=…`."""
    args = request.args
    errors = {}
    try:
        amount = bank.mpos_amount(args.get("amount", ""))
    except Invalid as exc:
        amount, errors = None, exc.errors
    if _mpos_return_path(args.get("return_url", "")) is None:
        errors["return_url"] = _("MKASSA did not say where to come back to.")
    return render_template("sandbox/mpos.html", payment_id=args.get("payment_id", "")[:26], amount=amount,
                           return_url=args.get("return_url", ""), errors=errors,
                           cards=bank.MPOS_CARDS), 422 if errors else 200


@bp.post("/mpos")
def mpos_result():
    form = request.form
    action, payment_id = form.get("action", ""), form.get("payment_id", "")[:26]
    return_path = _mpos_return_path(form.get("return_url", ""))
    try:
        amount = bank.mpos_amount(form.get("amount", ""))
    except Invalid:
        abort(422)
    if action not in bank.MPOS_ACTIONS or return_path is None or not payment_id:
        abort(422)
    row = bank.mpos_take(payment_id, amount, action, form.get("card", ""))
    body = json.dumps(bank.card_event(row)) if row is not None else None
    # The bank records the result before it notifies, and no transaction stays open over the call:
    # MKASSA's webhook handler needs the database (SQLite's write lock).
    db.session.commit()
    if body is not None and action != "silent":
        settings = current_app.extensions["mkassa.settings"]
        bank.send(request.host_url + "bank/webhooks", settings.webhook_secret, bank.new_webhook_id(), body)
    hint = {"approve": "approved", "decline": "declined", "cancel": "cancelled"}.get(action)
    return redirect(_with_hint(return_path, hint), 303)
