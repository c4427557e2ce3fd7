"""Live updates: publish after commit, subscribe from SSE streams.

In-process by default (one web process: `make run`); through Redis pub/sub when REDIS_URL is set, so
a webhook handled by one process reaches a screen served by another. Messages carry only ids: a
screen re-reads the database before it shows anything, so nothing unconfirmed is ever displayed.
Publishing waits for the commit (a rolled-back payment must never flash "paid").
"""
from __future__ import annotations

import queue
import threading
from typing import Protocol

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

CHANNEL_PREFIX = "mkassa:"
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
