"""The partner API (#18): API keys, and the payments partners' systems create, read and cancel.

A key is shown once and only its SHA-256 is kept: keys carry 256 random bits, so a fast hash is as
safe as a slow one here and keeps every API request to one indexed lookup. The views (blueprint
`api`) parse JSON and call these functions; callbacks live in services/callbacks.py.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..config import Settings
from ..extensions import db
from ..models import ApiKey, ApiPayment, Payment, Point, User, utcnow
from ..models.api import API_KEY_NAME_MAX, CALLBACK_URL_MAX, DESCRIPTION_MAX, ORDER_REF_MAX
from ..models.payment import CURRENCY_KGS
from ..scope import select_for_key
from . import Invalid, audit
from . import accept, refunds

LIVE_PREFIX, TEST_PREFIX = "mk_live_", "mk_test_"
CALLBACK_SECRET_PREFIX = "whsec_"
# Characters of a key kept in clear to tell keys apart in the profile ("mk_test_AbCd").
SHOWN_PREFIX_LENGTH = 12
# Live (unrevoked) keys one merchant may hold: enough for every till and site, few enough to review.
MAX_KEYS_PER_MERCHANT = 20
# last_used_at is written at most this often per key: a busy key must not rewrite its row per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
CURRENCY_CODE = "KGS"  # ISO 4217 letters of CURRENCY_KGS (417), the only currency MKASSA takes
QR_SVG_PATH = "/api/v1/payments/{id}/qr.svg"


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just created: the only moment its secrets exist in clear outside the partner's system."""

    key: ApiKey
    token: str
    callback_secret: str


def create_key(owner: User, name: str, point_public_id: str | None, settings: Settings) -> NewKey:
    """A new key for the owner's merchant, named, for the whole merchant or one point."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Enter a name for the key, for example the site it is for.")
    elif len(name) > API_KEY_NAME_MAX:
        errors["name"] = _("The name must be at most %(count)d characters.", count=API_KEY_NAME_MAX)
    point = None
    if point_public_id:
        point = db.session.scalar(select(Point).where(Point.merchant_id == owner.merchant_id,
                                                      Point.public_id == point_public_id,
                                                      Point.archived_at.is_(None)))
        if point is None:
            errors["point"] = _("Choose a point from the list.")
    live = db.session.scalar(select(func.count()).select_from(ApiKey).where(
        ApiKey.merchant_id == owner.merchant_id, ApiKey.revoked_at.is_(None)))
    if live >= MAX_KEYS_PER_MERCHANT:
        errors["name"] = _("You already have %(count)d keys. Revoke one you no longer use first.",
                           count=MAX_KEYS_PER_MERCHANT)
    if errors:
        raise Invalid(errors)
    token = (TEST_PREFIX if settings.sandbox else LIVE_PREFIX) + secrets.token_urlsafe(32)
    callback_secret = CALLBACK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
    key = ApiKey(merchant_id=owner.merchant_id, point_id=point.id if point else None, created_by_id=owner.id,
                 name=name, mode="test" if settings.sandbox else "live", prefix=token[:SHOWN_PREFIX_LENGTH],
                 key_hash=key_hash(token), callback_secret=callback_secret)
    db.session.add(key)
    db.session.flush()
    audit.record(owner, "api_key.created", merchant_id=owner.merchant_id, obj=key,
                 data={"name": name, "point": point.public_id if point else None})
    return NewKey(key, token, callback_secret)


def revoke_key(owner: User, key: ApiKey, now: datetime | None = None) -> None:
    """Refused from the next request on; kept (revoked) so its payments still name it."""
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
        audit.record(owner, "api_key.revoked", merchant_id=owner.merchant_id, obj=key)


def owner_keys(owner: User) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).where(ApiKey.merchant_id == owner.merchant_id)
                                   .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(),
                                             ApiKey.id.desc())))


def authenticate(token: str | None, now: datetime | None = None) -> ApiKey | None:
    """The live key `token` is, or None (unknown, revoked, or its merchant switched off)."""
    if not token or not token.startswith((LIVE_PREFIX, TEST_PREFIX)):
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash(token)))
    if key is None or key.revoked_at is not None or not _merchant_active(key):
        return None
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # A guarded UPDATE, not the ORM: a read-only GET then writes one short row, no lost update.
        db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
    return key


def _merchant_active(key: ApiKey) -> bool:
    from ..models import Merchant
    return bool(db.session.scalar(select(Merchant.active).where(Merchant.id == key.merchant_id)))


# ------------------------------------------------------------------------------------------- payments


def _text(body: dict[str, Any], name: str, limit: int, errors: dict[str, str]) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors[name] = _("Must be text.")
        return None
    value = value.strip()
    if len(value) > limit:
        errors[name] = _("Must be at most %(count)d characters.", count=limit)
    return value or None


def _point_for(key: ApiKey, raw: Any, errors: dict[str, str]) -> Point | None:
    points = select_for_key(Point, key).where(Point.archived_at.is_(None))
    if raw is None or raw == "":
        if key.point_id is not None:
            return db.session.get(Point, key.point_id)
        found = list(db.session.scalars(points.limit(2)))
        if len(found) == 1:
            return found[0]
        errors["point_id"] = _("Choose the point the payment is for (point_id).")
        return None
    point = db.session.scalar(points.where(Point.public_id == raw)) if isinstance(raw, str) else None
    if point is None:
        errors["point_id"] = _("No such point for this key.")
    return point


def create_payment(key: ApiKey, body: dict[str, Any], settings: Settings,
                   check_url=None) -> tuple[Payment, ApiPayment]:
    """A pending dynamic-QR payment for `amount` tyiyn at a point the key may use.

    API payments have no cashier and no shift: the partner's system, not a person, took them.
    """
    from .callbacks import check_callback_url
    errors: dict[str, str] = {}
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= settings.max_payment_tyiyn:
        errors["amount"] = _("The amount must be a whole number of tyiyn from 1 to %(max)d.",
                             max=settings.max_payment_tyiyn)
    point = _point_for(key, body.get("point_id"), errors)
    order_ref = _text(body, "order_ref", ORDER_REF_MAX, errors)
    description = _text(body, "description", DESCRIPTION_MAX, errors)
    callback_url = _text(body, "callback_url", CALLBACK_URL_MAX, errors)
    if callback_url and "callback_url" not in errors:
        problem = (check_url or check_callback_url)(callback_url, settings)
        if problem:
            errors["callback_url"] = problem
    if errors:
        raise Invalid(errors)
    now = utcnow()
    payment = Payment(merchant_id=key.merchant_id, point_id=point.id, cashier_id=None, method="qr",
                      link_type="dynamic", amount=amount, currency=CURRENCY_KGS, status="pending",
                      created_at=now, expires_at=now + timedelta(seconds=settings.payment_lifetime_seconds))
    db.session.add(payment)
    db.session.flush()
    extra = ApiPayment(payment_id=payment.id, api_key_id=key.id, order_ref=order_ref, description=description,
                       callback_url=callback_url)
    db.session.add(extra)
    db.session.flush()
    accept.announce(payment)
    return payment, extra


def get_payment(key: ApiKey, public_id: str) -> Payment | None:
    return db.session.scalar(select_for_key(Payment, key).where(Payment.public_id == public_id))


def extras(payment_ids: list[int]) -> dict[int, ApiPayment]:
    if not payment_ids:
        return {}
    return {row.payment_id: row for row in db.session.scalars(
        select(ApiPayment).where(ApiPayment.payment_id.in_(payment_ids)))}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def payment_json(payment: Payment, extra: ApiPayment | None, settings: Settings) -> dict[str, Any]:
    """A payment as the API shows it (and callbacks send it): the schema `Payment` in openapi.py."""
    base = settings.public_base_url.rstrip("/")
    dynamic = payment.method == "qr" and payment.link_type == "dynamic"
    return {
        "id": payment.public_id,
        "object": "payment",
        "status": payment.status,
        "amount": payment.amount,
        "currency": CURRENCY_CODE,
        "method": payment.method,
        "point_id": payment.point.public_id if payment.point else None,
        "cashier_id": payment.cashier.public_id if payment.cashier else None,
        "order_ref": extra.order_ref if extra else None,
        "description": extra.description if extra else None,
        "callback_url": extra.callback_url if extra else None,
        "elqr_link": accept.payment_link(payment, settings) if dynamic else None,
        "qr_svg_url": base + QR_SVG_PATH.format(id=payment.public_id) if dynamic else None,
        "flagged": payment.flagged,
        "created_at": _iso(payment.created_at),
        "expires_at": _iso(payment.expires_at),
        "paid_at": _iso(payment.paid_at),
        "finished_at": _iso(payment.finished_at),
    }


def refunds_json(payment: Payment) -> dict[str, Any]:
    """The payment's refunds as the API lists them (schema `RefundList` in openapi.py): those the owner
    confirmed with the SMS code, oldest first. Refunds are made in the app, never through the API: a
    partner's key must not be able to send money out."""
    return {"object": "list", "data": [{
        "id": refund.public_id,
        "object": "refund",
        "payment_id": payment.public_id,
        "amount": refund.amount,
        "currency": CURRENCY_CODE,
        "status": refund.status,
        "created_at": _iso(refund.created_at),
        "finished_at": _iso(refund.finished_at),
        "failure_reason": refund.failure_reason,
    } for refund in refunds.refunds_of(payment)]}


def point_json(point: Point) -> dict[str, Any]:
    return {"id": point.public_id, "object": "point", "name": point.name, "address": point.address,
            "archived": point.archived_at is not None}
