"""/healthz and /readyz for the load balancer.

/healthz: the process answers (restart it if not). /readyz: it can do its work — the database and
Redis answer, the outbox is not falling behind, and some worker has beaten its heartbeat recently
(take the instance out of rotation if not; an operator must look). Answers carry no error text.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import func, select, text

from .extensions import db
from .models import WorkerHeartbeat, utcnow

log = logging.getLogger(__name__)

# The oldest due outbox message may wait this long before the instance reports not ready (seconds).
OUTBOX_BACKLOG_MAX_SECONDS = 120
REDIS_TIMEOUT_SECONDS = 2


def readiness(now: datetime | None = None) -> tuple[bool, dict[str, str]]:
    from .services import outbox
    from .worker import HEARTBEAT_MAX_AGE
    now = now or utcnow()
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        log.exception("readiness: the database does not answer")
        db.session.rollback()
        checks["database"] = "down"
    checks["redis"] = _redis()
    if checks["database"] == "ok":
        age = outbox.backlog_age_seconds(now)
        checks["outbox_backlog"] = "ok" if age <= OUTBOX_BACKLOG_MAX_SECONDS else f"behind {int(age)} s"
        seen = db.session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
        checks["workers"] = "ok" if seen is not None and now - seen <= HEARTBEAT_MAX_AGE else "silent"
    ready = all(value in ("ok", "not used") for value in checks.values())
    return ready, checks


def _redis() -> str:
    url = current_app.extensions["mkassa.settings"].redis_url
    if not url:
        return "not used"
    import redis
    try:
        redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                             socket_connect_timeout=REDIS_TIMEOUT_SECONDS).ping()
    except redis.RedisError:
        log.exception("readiness: Redis does not answer")
        return "down"
    return "ok"


def register(app: Flask) -> None:
    from .security import make_public

    @app.get("/healthz", endpoint="health")
    def health():
        return {"status": "ok"}

    @app.get("/readyz", endpoint="ready")
    def ready():
        ok, checks = readiness()
        return {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503

    make_public("ready")
