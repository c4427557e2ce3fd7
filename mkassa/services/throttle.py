"""Attempt limits for sign-in and recovery, kept in the database so every process shares them.

A limit is a `Rule` (at most `limit` attempts per `window_seconds`) applied to a key: an address,
a device, a login, a phone. `begin()` counts the attempt FIRST and commits it, then checks every
rule: parallel requests each see the others' rows, so a burst gets no more tries than requests
sent one by one (a refused attempt removes its own rows again, so waiting in front of a limit does
not extend it). The caller then does the expensive check; `forget()` drops the attempt when it
succeeded (a good sign-in never counts towards a limit), otherwise it stays counted.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import format_timedelta
from sqlalchemy import delete, func, select

from .. import durable
from ..extensions import db
from ..models import AuthAttempt, utcnow
from . import ServiceError

# Rows older than the longest window count for nothing: housekeeping deletes them.
MAX_WINDOW_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class Rule:
    scope: str
    limit: int
    window_seconds: int
    # Shown when the limit is reached: a lazy translatable string with %(wait)s.
    message: object


class Throttled(ServiceError):
    status = 429

    def __init__(self, rule: Rule, retry_at: datetime, now: datetime):
        # Rounded up to the minute: "in 0 minutes" would be a lie.
        minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
        wait = format_timedelta(timedelta(minutes=minutes), granularity="minute", threshold=2)
        super().__init__(str(rule.message) % {"wait": wait})
        self.rule = rule
        self.retry_at = retry_at


@dataclass
class Attempt:
    ids: list[int]


def key(material: str) -> str:
    """An HMAC of what is counted: addresses, logins and phones are not stored in clear."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()


def count(rule: Rule, material: str, now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.scalar(select(func.count(AuthAttempt.id)).where(
        AuthAttempt.scope == rule.scope, AuthAttempt.key == key(material),
        AuthAttempt.at > now - timedelta(seconds=rule.window_seconds)))


def begin(*checks: tuple[Rule, str], now: datetime | None = None) -> Attempt:
    """Count one attempt under every (rule, key) and COMMIT it; then refuse with Throttled when any
    rule is over its limit (checked in the order given: the first that refuses is named)."""
    now = now or utcnow()
    rows = [AuthAttempt(scope=rule.scope, key=key(material), at=now) for rule, material in checks]
    db.session.add_all(rows)
    # Committed at once, whatever follows: parallel attempts must see this one before their check.
    db.session.commit()
    mark = durable.mark()
    attempt = Attempt([row.id for row in rows])
    for rule, material in checks:
        since = now - timedelta(seconds=rule.window_seconds)
        times = list(db.session.scalars(select(AuthAttempt.at).where(
            AuthAttempt.scope == rule.scope, AuthAttempt.key == key(material), AuthAttempt.at > since,
            AuthAttempt.id.not_in(attempt.ids)).order_by(AuthAttempt.at)))
        if len(times) >= rule.limit:
            forget(attempt)
            durable.keep(mark, redo=lambda: forget(attempt))
            # Allowed again once enough of the counted attempts have left the window.
            raise Throttled(rule, times[len(times) - rule.limit] + timedelta(seconds=rule.window_seconds), now)
    return attempt


def forget(attempt: Attempt) -> None:
    """The attempt succeeded: it does not count (flushed; the request commits it)."""
    if attempt.ids:
        db.session.execute(delete(AuthAttempt).where(AuthAttempt.id.in_(attempt.ids)))
