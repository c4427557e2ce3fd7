"""The sandbox bank's tools (mounted only when BANK_MODE=sandbox): the SMS outbox, the payer…"""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from ...extensions import db
from ...models import SandboxSms

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
def sms_json():
    return jsonify([{"id": m.id, "phone": m.phone, "sender": m.sender, "text": m.text,
                     "created_at": m.created_at.isoformat()} for m in _messages()])
