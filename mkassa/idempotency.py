"""Idempotency-Key for every state-changing request.

Same key + same body → the stored response is replayed; same key + another body → 409; a duplicate
that arrives while the first is still running → 409 and no second effect. The key row is committed
before the view runs, so the unique constraint decides between concurrent duplicates.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import Flask, Response, abort, g, request, session
from werkzeug.exceptions import Conflict
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import durable
from .extensions import db
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 128
KEY_LIFETIME = timedelta(hours=24)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Blueprints that sign their callers in themselves (API keys) and call `begin` after that, with a
# scope of their own: the global hook runs before they know who is asking.
SELF_SCOPED_BLUEPRINTS = {"api"}


class KeyReused(Conflict):
    problem_code = "idempotency_key_reused"


class StillRunning(Conflict):
    problem_code = "idempotency_in_progress"
REPLAYED_HEADERS = ("Content-Type", "Location", "HX-Redirect", "HX-Trigger", "HX-Location")


def _scope() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.get_id()}"
    # Anonymous forms (sign-in, recovery) are tied to the browser's CSRF session.
    return "anon:" + hashlib.sha256(str(session.get("csrf_token", request.remote_addr)).encode()).hexdigest()[:32]


def _request_hash() -> str:
    """A digest of what the request asks for. Form bodies are hashed as their parsed fields,
    because CSRF protection reads (and consumes) the form before this hook runs."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.full_path}\n".encode())
    if request.form or request.files:
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"{name}={value}\n".encode())
        for name, upload in sorted(request.files.items(multi=True)):
            digest.update(f"{name}:{upload.filename}:".encode() + hashlib.sha256(upload.read()).digest())
            upload.seek(0)
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def before_request() -> Response | None:
    if request.blueprint in SELF_SCOPED_BLUEPRINTS:
        return None
    return begin(_scope())


def begin(scope: str) -> Response | None:
    """Claim the request's Idempotency-Key within `scope` (whose keys they are), or replay its answer."""
    key = request.headers.get(HEADER)
    if request.method not in UNSAFE_METHODS or not key:
        return None
    if len(key) > KEY_MAX_LENGTH:
        abort(400, description=_("The Idempotency-Key header is too long."))
    digest = _request_hash()
    existing = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                              IdempotencyKey.key == key))
    if existing is None:
        row = IdempotencyKey(scope=scope, key=key, request_hash=digest)
        db.session.add(row)
        try:
            # A boundary of its own, before the view's transaction: a concurrent duplicate must meet
            # this row (the unique constraint decides) while the first request is still running.
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            existing = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                                      IdempotencyKey.key == key))
        else:
            g.idempotency_key_id = row.id
            return None
    if existing.request_hash != digest:
        raise KeyReused(description=_("This request was already sent with different content."))
    if existing.status != "done":
        raise StillRunning(description=_("This request is still being processed. Please wait."))
    response = Response(existing.response_body, status=existing.response_status)
    for name, value in (existing.response_headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def store_instead(replay: Response) -> None:
    """Replay `replay` to a retry, not this request's answer: for an answer that shows a secret once
    (a new API key), which must never be written to the database nor shown twice."""
    g.idempotency_replay = replay


def store_response(response: Response) -> Response:
    """Keep a successful response with the request's own commit, to replay it on a retry."""
    key_id = g.get("idempotency_key_id")
    if key_id is None or response.status_code >= 400 or response.is_streamed:
        return response
    g.pop("idempotency_key_id")
    kept = g.pop("idempotency_replay", None) or response
    row = db.session.get(IdempotencyKey, key_id)
    row.status = "done"
    row.response_status = kept.status_code
    row.response_headers = {h: kept.headers[h] for h in REPLAYED_HEADERS if h in kept.headers}
    row.response_body = kept.get_data()
    return response


def release() -> None:
    """A request that failed changed nothing: free its key, so the client's retry runs again."""
    key_id = g.pop("idempotency_key_id", None)
    if key_id is not None:
        durable.write_alone(lambda: db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == key_id)))


def expired(now: datetime):
    """Keys past KEY_LIFETIME (deleted by the housekeeping job, services.housekeeping)."""
    return IdempotencyKey.created_at < now - KEY_LIFETIME


def init_app(app: Flask) -> None:
    app.before_request(before_request)
    app.after_request(store_response)
    app.teardown_request(lambda exc: release())
