"""Signed callbacks to partners (#18, item 4): every status change of a payment made through the API
with a callback URL becomes an `api_callback` row and an outbox message, in the same transaction.

The body is fixed when the event happens (every retry sends the same bytes under the same
webhook-id, so the partner can drop repeats); each try is signed afresh (Standard Webhooks'
timestamp is the try's) and recorded as an `api_callback_attempt` the profile and the console show.
The SSRF guard runs when the URL is given and again before every try (DNS may have changed).
"""
from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session, attributes

from ..config import Settings
from ..extensions import db
from ..gateways import callbacks as gateway
from ..models import ApiCallback, ApiCallbackAttempt, ApiKey, ApiPayment, Payment, utcnow
from ..models.api import CallbackStatus
from ..models.base import new_public_id
from . import outbox

KIND = "api_callback"
ERROR_MAX = 200

Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def _own_host(settings: Settings) -> str:
    return (urlsplit(settings.public_base_url).hostname or "").lower().rstrip(".")


def check_callback_url(url: str, settings: Settings, resolve: Resolver = _resolve) -> str | None:
    """Why MKASSA may not call `url` (translated), or None.

    Production: https only, and never MKASSA itself, loopback, private, link-local or other
    non-public addresses (every address the name resolves to is checked). The sandbox allows
    http and local addresses, so that tests and a developer's laptop can receive callbacks.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError:
        return _("Enter a valid URL.")
    allowed = ("http", "https") if settings.sandbox else ("https",)
    if parts.scheme not in allowed or not host:
        return _("Enter an https:// URL.") if not settings.sandbox else _("Enter a valid URL.")
    if parts.username or parts.password:
        return _("The URL must not contain a user name or password.")
    if settings.sandbox:
        return None
    if host == _own_host(settings) or host.endswith("." + _own_host(settings)):
        return _("The callback URL must not point at MKASSA.")
    try:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host)]
    except (OSError, ValueError, UnicodeError):
        return _("This host name cannot be found.")
    if not addresses or any(not a.is_global or a.is_multicast for a in addresses):
        return _("The callback URL must point at a public internet address.")
    return None


# ------------------------------------------------------------------------------------ queuing events


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush_context) -> None:
    # Attribute history is only readable here; the rows are added after the flush (postexec).
    changed = session.info.setdefault("api_callback_payments", [])
    for obj in session.dirty:
        # API payments have no cashier: other payments never cost a lookup here (the webhook path).
        if isinstance(obj, Payment) and obj.cashier_id is None and attributes.get_history(obj, "status").added:
            changed.append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _queue(session: Session, _flush_context) -> None:
    payments = session.info.pop("api_callback_payments", None)
    if not payments or not has_app_context():
        return
    with session.no_autoflush:
        rows = session.execute(select(ApiPayment, ApiKey).join(ApiKey, ApiKey.id == ApiPayment.api_key_id)
                               .where(ApiPayment.payment_id.in_({p.id for p in payments}),
                                      ApiPayment.callback_url.is_not(None))).all()
        if not rows:
            return
        from .partner_api import payment_json
        settings = current_app.extensions["mkassa.settings"]
        by_id = {p.id: p for p in payments}
        for extra, key in rows:
            payment = by_id[extra.payment_id]
            queue_event(session, payment, extra, key, settings, payment_json(payment, extra, settings))


def queue_event(session: Session, payment: Payment, extra: ApiPayment, key: ApiKey, settings: Settings,
                data: dict[str, Any]) -> ApiCallback:
    now = utcnow()
    event_type = f"payment.{payment.status}"
    body = json.dumps({"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
                      ensure_ascii=False, separators=(",", ":"))
    # The public id is set here, not at insert: the outbox names the callback before any flush
    # (this runs after one, where flushing again is not allowed).
    callback = ApiCallback(public_id=new_public_id(), merchant_id=payment.merchant_id, api_key_id=key.id,
                           payment_id=payment.id, event_type=event_type, url=extra.callback_url, body=body,
                           status=CallbackStatus.PENDING.value, attempts=0, created_at=now)
    session.add(callback)
    outbox.enqueue(KIND, {"callback": callback.public_id})
    return callback


# ---------------------------------------------------------------------------------------- delivery


@outbox.handler(KIND)
def _deliver(payload: dict[str, Any], delivery: outbox.Delivery) -> None:
    callback = _by_public_id(payload["callback"])
    if callback is None or callback.status == CallbackStatus.DELIVERED:
        db.session.commit()
        return
    key = db.session.get(ApiKey, callback.api_key_id)
    url, body, secret, webhook_id = callback.url, callback.body, key.callback_secret, callback.webhook_id
    settings = current_app.extensions["mkassa.settings"]
    # No transaction open while the partner is called (a slow partner must hold no lock).
    db.session.commit()
    status_code, error = None, None
    refused = check_callback_url(url, settings)
    if refused:
        error = refused
    else:
        try:
            status_code = gateway.send(url, secret, webhook_id, body)
        except Exception as exc:  # network errors are the partner's outage: retried with back-off
            reason = getattr(exc, "reason", None) or exc  # urllib wraps the socket's error in URLError
            error = f"{type(reason).__name__}: {reason}"
    delivered = status_code is not None and 200 <= status_code < 300
    callback = _by_public_id(payload["callback"])
    callback.attempts += 1
    db.session.add(ApiCallbackAttempt(callback_id=callback.id, status_code=status_code,
                                      error=error[:ERROR_MAX] if error else None))
    if delivered:
        callback.status, callback.delivered_at = CallbackStatus.DELIVERED.value, utcnow()
    elif delivery.attempts >= outbox.MAX_ATTEMPTS:
        callback.status = CallbackStatus.DEAD.value
    db.session.commit()
    if not delivered:
        raise RuntimeError(f"callback {callback.public_id}: {status_code or error}")


def _by_public_id(public_id: str) -> ApiCallback | None:
    return db.session.scalar(select(ApiCallback).where(ApiCallback.public_id == public_id))


def recent(stmt, limit: int) -> list[ApiCallback]:
    """The latest callbacks of a scoped SELECT, newest first (profile and console)."""
    return list(db.session.scalars(stmt.order_by(ApiCallback.created_at.desc(), ApiCallback.id.desc()).limit(limit)))
