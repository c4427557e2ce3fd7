"""Live updates: publish after commit, subscribe from SSE streams.

In-process by default (one web process: `make run`); through Redis pub/sub when REDIS_URL is set, so
a webhook handled by one process reaches a screen served by another. Messages carry only ids: a
screen re-reads the database before it shows anything, so nothing unconfirmed is ever displayed.
Publishing waits for the commit (a rolled-back payment must never flash "paid").
`event_stream` is the one server-sent-events loop the live screens (home, pay) share.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from time import monotonic
from typing import Protocol

from flask import Response, current_app, has_app_context, stream_with_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db
from .security import reauth_url, session_ended

CHANNEL_PREFIX = "mkassa:"
# An SSE stream ends after this long and the browser reconnects: no request lives forever, and a
# reconnect re-checks the user's access.
STREAM_SECONDS = 55
# A comment line this often keeps proxies from closing an idle stream and finds dead clients.
HEARTBEAT_SECONDS = 15
# The event a stream sends before it closes because the user's session ended (see static/js/live.js).
SESSION_ENDED_EVENT = "session-ended"
# Each open stream holds a Redis connection of its own (pub/sub) from the process's pool, whose
# default cap of 100 refused the 101st screen of a web worker. Above what one worker holds at once
# (gunicorn.conf.py: 1000 connections), with room for publishing.
REDIS_MAX_CONNECTIONS = 1200
_SESSION_KEY = "live_messages"
_lock = threading.Lock()


def payment_channel(public_id: str) -> str:
    return f"{CHANNEL_PREFIX}payment:{public_id}"


def merchant_channel(merchant_id: int) -> str:
    return f"{CHANNEL_PREFIX}merchant:{merchant_id}"


class Subscription(Protocol):
    def get(self, timeout: float) -> str | None: ...
    def close(self) -> None: ...


class LocalBroker:
    """Fan-out between the threads of one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[queue.SimpleQueue]] = {}
        self._mutex = threading.Lock()

    def publish(self, channel: str, message: str) -> None:
        with self._mutex:
            targets = list(self._subscribers.get(channel, ()))
        for inbox in targets:
            inbox.put(message)

    def subscribe(self, *channels: str) -> "_LocalSubscription":
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._mutex:
            for channel in channels:
                self._subscribers.setdefault(channel, set()).add(inbox)
        return _LocalSubscription(self, inbox, channels)

    def _unsubscribe(self, inbox: queue.SimpleQueue, channels: tuple[str, ...]) -> None:
        with self._mutex:
            for channel in channels:
                subscribers = self._subscribers.get(channel)
                if subscribers is not None:
                    subscribers.discard(inbox)
                    if not subscribers:
                        del self._subscribers[channel]


class _LocalSubscription:
    def __init__(self, broker: LocalBroker, inbox: queue.SimpleQueue, channels: tuple[str, ...]) -> None:
        self._broker, self._inbox, self._channels = broker, inbox, channels

    def get(self, timeout: float) -> str | None:
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._broker._unsubscribe(self._inbox, self._channels)


class RedisBroker:
    """Fan-out across processes through Redis pub/sub."""

    def __init__(self, url: str) -> None:
        import redis
        self._redis = redis.Redis.from_url(url, max_connections=REDIS_MAX_CONNECTIONS)

    def publish(self, channel: str, message: str) -> None:
        self._redis.publish(channel, message)

    def subscribe(self, *channels: str) -> "_RedisSubscription":
        pubsub = self._redis.pubsub()
        pubsub.subscribe(*channels)
        # Wait until Redis confirmed every channel: a message published after this returns is seen.
        confirmed = 0
        while confirmed < len(channels):
            reply = pubsub.get_message(timeout=5)
            if reply is None:
                pubsub.close()
                raise ConnectionError("Redis did not confirm the subscription")
            confirmed += reply["type"] == "subscribe"
        return _RedisSubscription(pubsub)


class _RedisSubscription:
    def __init__(self, pubsub) -> None:
        self._pubsub = pubsub

    def get(self, timeout: float) -> str | None:
        reply = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if reply is None or reply["type"] != "message":
            return None
        data = reply["data"]
        return data.decode() if isinstance(data, bytes) else data

    def close(self) -> None:
        self._pubsub.close()


def broker():
    """The app's broker, created on first use."""
    extensions = current_app.extensions
    if "mkassa.live" not in extensions:
        with _lock:
            if "mkassa.live" not in extensions:
                url = extensions["mkassa.settings"].redis_url
                extensions["mkassa.live"] = RedisBroker(url) if url else LocalBroker()
    return extensions["mkassa.live"]


def publish_after_commit(channel: str, message: str) -> None:
    """Queue a message in the current transaction; it leaves only if the transaction commits."""
    db.session.info.setdefault(_SESSION_KEY, []).append((channel, message))


@event.listens_for(Session, "after_commit")
def _publish(session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the real commit is still to come
    messages = session.info.pop(_SESSION_KEY, None)
    if messages and has_app_context():
        target = broker()
        for channel, message in messages:
            target.publish(channel, message)


@event.listens_for(Session, "after_rollback")
def _discard(session) -> None:
    session.info.pop(_SESSION_KEY, None)


# ----------------------------------------------------------------------------- server-sent events

# What a stream sends for an event (SSE messages, each its own chunk) and whether it ends after them.
Update = tuple[list[str], bool]
# The event that tells a screen its subject is final: `hx-sse:close="done"` ends the stream.
DONE = "event: done\ndata:\n\n"


def sse_message(html: str) -> str:
    """An unnamed SSE message: htmx swaps its data into the element that opened the stream."""
    return "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"


def event_stream(subscription: Subscription, update: Callable[[str | None], Update]) -> Response:
    """The response of a live screen: `update(None)` once when the stream opens, `update(message)` for
    each message on `subscription`, a heartbeat while nothing happens, `session-ended` once the
    user's session is gone, and an end after STREAM_SECONDS (the browser reconnects).

    `update` reads the database for itself: the stream holds no session between events (on SQLite an
    open transaction is the write lock), so the caller's session is ended here before the first wait.
    """
    db.session.remove()
    return Response(stream_with_context(_frames(subscription, update)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _frames(subscription: Subscription, update: Callable[[str | None], Update]) -> Iterator[str]:
    deadline = monotonic() + STREAM_SECONDS
    try:
        messages, done = update(None)
        db.session.remove()
        yield from messages
        if done:  # finished before the stream opened: said so, and stop
            return
        yield ": open\n\n"
        while (left := deadline - monotonic()) > 0:
            message = subscription.get(timeout=min(HEARTBEAT_SECONDS, left))
            # Checked at every wake-up: a screen whose session ended shows nothing more.
            if ended := session_ended_event():
                yield ended
                return
            if message is None:
                yield ": ping\n\n"
                continue
            messages, done = update(message)
            db.session.remove()
            yield from messages
            if done:
                return
    finally:
        subscription.close()
        db.session.remove()


def session_ended_event() -> str | None:
    """`session-ended` with where to go (the lock or sign-in screen, then back to the page), once the
    session behind a stream has ended; None while it lives. A live screen must not go stale silently:
    static/js/live.js follows the event (#11)."""
    ended = session_ended()
    target = reauth_url() if ended else None
    db.session.remove()
    return f"event: {SESSION_ENDED_EVENT}\ndata: {target}\n\n" if ended else None
