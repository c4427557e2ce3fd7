"""Web push (D5): owners' browsers are told when a payment lands, through the outbox.

A browser subscribes with the public half of our VAPID key pair (generated into instance/ on first
use); a succeeded payment queues one outbox row per subscription of the merchant's owners, in the
crediting transaction; the "push" handler encrypts and sends it. A push service answering 404 or
410 says the browser dropped the subscription: the row is deleted. Any other failure is retried.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, select

from .. import signals
from ..config import DEFAULT_LOCALE
from ..extensions import db
from ..models import Payment, PushSubscription, User, utcnow
from ..models.push import AUTH_MAX, P256DH_MAX, PUSH_ENDPOINT_MAX
from ..money import format_amount
from ..formatting import money_symbols
from . import Invalid, outbox

VAPID_KEY_FILE = "vapid_private.pem"
# Browsers a user may bring: Chromium (FCM), Edge (WNS), Firefox (Mozilla), Safari (Apple). Only
# these hosts are ever sent to, so a stored "endpoint" cannot make the server call anything else.
PUSH_SERVICE_HOSTS = ("fcm.googleapis.com", "android.googleapis.com", "push.services.mozilla.com",
                      "notify.windows.com", "push.apple.com")
# One owner rarely has more devices than this; past it the oldest subscription gives way.
MAX_SUBSCRIPTIONS_PER_USER = 10
# A payment notice is news for a day at most; a phone offline longer gets it no more.
PUSH_TTL_SECONDS = 24 * 60 * 60
PUSH_TIMEOUT_SECONDS = 10
# A push service answering these has forgotten the subscription for good (RFC 8030 §7.3).
GONE_STATUSES = (404, 410)
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04, X, Y
AUTH_BYTES = 16
NOTIFICATION_URL = "/"

MSG_ENDPOINT = _l("This browser gave an address that is not a known push service.")
MSG_KEYS = _l("This browser gave invalid notification keys.")


# pywebpush (with requests, aiohttp and py_vapid: about 35 MB of memory) is imported where a push is
# sent or a key is read, not with the app: web and export processes mostly never need it.


def webpush(*args, **kwargs):
    """pywebpush.webpush, loaded on first use (the gateway call tests watch, see tests/conftest.py)."""
    from pywebpush import webpush as send
    return send(*args, **kwargs)


# ----------------------------------------------------------------------------------- VAPID keys


def vapid_key(instance_path: str | Path):
    from py_vapid import Vapid
    """Our VAPID key pair, read from instance/, generated there (mode 0600) on first use.

    Created under a temporary name and linked into place, so two processes starting at once
    agree on one key (the loser reads the winner's) and nobody reads a half-written file.
    """
    path = Path(instance_path) / VAPID_KEY_FILE
    if path.exists():
        return Vapid.from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Vapid()
    key.generate_keys()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_pem())
        os.link(temp, path)
    except FileExistsError:
        return Vapid.from_pem(path.read_bytes())
    finally:
        os.unlink(temp)
    return key


def application_server_key(instance_path: str | Path) -> str:
    """The public key as the browser's pushManager.subscribe() wants it: URL-safe base64, no padding."""
    from py_vapid.utils import b64urlencode
    point = vapid_key(instance_path).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(point)


# -------------------------------------------------------------------------------- subscriptions


def _b64url_bytes(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def _known_push_service(endpoint: object) -> bool:
    if not isinstance(endpoint, str) or len(endpoint) > PUSH_ENDPOINT_MAX:
        return False
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    return (parts.scheme == "https" and parts.username is None and parts.password is None
            and any(host == known or host.endswith("." + known) for known in PUSH_SERVICE_HOSTS))


def subscribe(user: User, info: object) -> PushSubscription:
    """Store what the browser's PushSubscription.toJSON() gave; subscribing again changes nothing.

    The same browser subscribed by someone else before (a shared phone) now belongs to `user`.
    """
    data = info if isinstance(info, dict) else {}
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    endpoint, p256dh, auth = data.get("endpoint"), keys.get("p256dh"), keys.get("auth")
    if not _known_push_service(endpoint):
        raise Invalid({"endpoint": MSG_ENDPOINT})
    point, secret = _b64url_bytes(p256dh), _b64url_bytes(auth)
    if (point is None or len(point) != P256DH_BYTES or point[0] != 4 or len(p256dh) > P256DH_MAX
            or secret is None or len(secret) != AUTH_BYTES or len(auth) > AUTH_MAX):
        raise Invalid({"keys": MSG_KEYS})
    sub = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if sub is None:
        sub = PushSubscription(user_id=user.id, endpoint=endpoint, p256dh=p256dh, auth=auth)
        db.session.add(sub)
    else:
        sub.user_id, sub.p256dh, sub.auth, sub.failure_count = user.id, p256dh, auth, 0
    db.session.flush()
    _drop_oldest_beyond_limit(user)
    return sub


def _drop_oldest_beyond_limit(user: User) -> None:
    ids = db.session.scalars(select(PushSubscription.id).where(PushSubscription.user_id == user.id)
                             .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())).all()
    if len(ids) > MAX_SUBSCRIPTIONS_PER_USER:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids[MAX_SUBSCRIPTIONS_PER_USER:])))


def unsubscribe(user: User, endpoint: object) -> None:
    """Forget this browser for `user`; unknown or someone else's endpoints are left alone."""
    if isinstance(endpoint, str):
        db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user.id,
                                                          PushSubscription.endpoint == endpoint))


def count_for(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(PushSubscription)
                             .where(PushSubscription.user_id == user.id))


# ------------------------------------------------------------------------------ payment → push


def notification_for(payment: Payment, locale: str) -> dict[str, str]:
    """Title, body and page of the notice, in the owner's language."""
    with force_locale(locale):
        title = _("Payment received: %(amount)s", amount=format_amount(payment.amount, money_symbols(locale)))
        body = payment.point.name if payment.point is not None else payment.merchant.display_name
    return {"title": title, "body": body, "url": NOTIFICATION_URL}


# Built once: every credited payment runs it, and building the select cost more Python than running it.
_OWNERS_SUBSCRIPTIONS = (select(PushSubscription.id, User.locale).join(User, PushSubscription.user_id == User.id)
                         .where(User.merchant_id == bindparam("merchant_id"), User.role == "owner",
                                User.active.is_(True))
                         .order_by(PushSubscription.id))


@signals.payment_succeeded.connect
def queue_payment_push(payment: Payment, **_extra) -> None:
    """One outbox row per subscription of the merchant's owners, in the crediting transaction."""
    rows = db.session.execute(_OWNERS_SUBSCRIPTIONS, {"merchant_id": payment.merchant_id}).all()
    for subscription_id, locale in rows:
        notice = notification_for(payment, locale or DEFAULT_LOCALE)
        outbox.enqueue("push", {"subscription_id": subscription_id, **notice},
                       dedupe_key=f"push:{payment.public_id}:{subscription_id}")


@outbox.handler("push")
def deliver_push(payload: dict, _message) -> None:
    import requests
    from pywebpush import WebPushException
    sub = db.session.get(PushSubscription, payload["subscription_id"])
    if sub is None:  # unsubscribed (or gone) since the payment: nobody to tell
        return
    subscription_id, info = sub.id, sub.subscription_info()
    # No transaction (on SQLite: no write lock) is held while a push service takes its time.
    db.session.commit()
    settings = current_app.extensions["mkassa.settings"]
    notice = {key: payload[key] for key in ("title", "body", "url")}
    try:
        webpush(info, json.dumps(notice, ensure_ascii=False), vapid_private_key=vapid_key(settings.instance_path),
                vapid_claims={"sub": settings.vapid_subject}, ttl=PUSH_TTL_SECONDS,
                timeout=PUSH_TIMEOUT_SECONDS, headers={"Urgency": "high"})
    except WebPushException as exc:
        if exc.status_code in GONE_STATUSES:
            # Committed with the message marked sent: there is nothing left to retry.
            db.session.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))
            return
        _count_failure(subscription_id)
        raise
    except requests.RequestException:
        _count_failure(subscription_id)
        raise
    sub = db.session.get(PushSubscription, subscription_id)
    if sub is not None:
        sub.last_success_at, sub.failure_count = utcnow(), 0


def _count_failure(subscription_id: int) -> None:
    sub = db.session.get(PushSubscription, subscription_id)
    if sub is not None:
        sub.failure_count += 1
        # Committed now: the dispatcher rolls back whatever follows the exception it is about to get.
        db.session.commit()
