"""The background worker: outbox delivery and periodic jobs, in two loops that never wait for each other.

`flask outbox run` runs one in the foreground (delivery in the main thread, jobs in a second thread),
as many processes as wanted; under `make run` the web process runs one in two daemon threads.
Neither loop ever dies of an exception: it is logged, the session rolled back, and the loop goes on
after a pause (the database may be restarting). SIGTERM stops it cleanly: the message in hand is
delivered and recorded, the running job finishes, and nothing new is started.

Each worker writes a heartbeat row, which /readyz and the bank console read.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete, update

from .extensions import db
from .models import WorkerHeartbeat, utcnow

log = logging.getLogger(__name__)

# How often a delivery loop looks for due messages when nothing woke it (seconds).
POLL_SECONDS = 1.0
# How often the jobs loop looks for due jobs (each job has its own, longer, interval).
JOBS_POLL_SECONDS = 1.0
# How often a worker writes its heartbeat; /readyz wants one newer than HEARTBEAT_MAX_AGE.
HEARTBEAT_SECONDS = 5
HEARTBEAT_MAX_AGE = timedelta(seconds=60)
# Pause after a loop failed (database down…), so that a broken dependency is not hammered.
ERROR_PAUSE_SECONDS = 2.0
# On stop: how long to wait for the running job to finish before the process exits anyway.
STOP_JOB_WAIT_SECONDS = 30


def new_worker_id(kind: str) -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{kind}:{secrets.token_hex(3)}"


class Worker:
    def __init__(self, app: Flask, kind: str = "process", poll_seconds: float = POLL_SECONDS) -> None:
        self.app = app
        self.kind = kind
        self.id = new_worker_id(kind)
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_beat = 0.0
        self._delivered = 0

    # ------------------------------------------------------------------ control
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def start_threads(self) -> None:
        """Both loops in daemon threads (the web process's in-process worker)."""
        for target, name in ((self.delivery_loop, "outbox-delivery"), (self.jobs_loop, "outbox-jobs")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float = 10) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        """The `flask outbox run` process: jobs in a thread, delivery here, until SIGTERM/SIGINT."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())
        jobs = threading.Thread(target=self.jobs_loop, name="outbox-jobs", daemon=True)
        jobs.start()
        log.info("outbox worker %s started", self.id)
        self.delivery_loop()
        jobs.join(STOP_JOB_WAIT_SECONDS)
        self._sign_off()
        log.info("outbox worker %s stopped", self.id)

    # ------------------------------------------------------------------ loops
    def delivery_loop(self) -> None:
        from .services import outbox
        while not self.stopping.is_set():
            pause = self.poll_seconds
            with self.app.app_context():
                try:
                    self._beat()
                    self._delivered += outbox.dispatch_due(should_stop=self.stopping.is_set)
                except Exception:  # the loop must outlive any failure; the rows stay pending
                    log.exception("outbox delivery failed; retrying")
                    db.session.rollback()
                    pause = ERROR_PAUSE_SECONDS
                finally:
                    db.session.remove()
            if self._wake.wait(pause):
                self._wake.clear()

    def jobs_loop(self) -> None:
        from .services import jobs
        while not self.stopping.is_set():
            pause = JOBS_POLL_SECONDS
            with self.app.app_context():
                try:
                    jobs.run_due(self.id, should_stop=self.stopping.is_set)
                except Exception:  # e.g. the database is down: try again shortly
                    log.exception("periodic jobs failed; retrying")
                    db.session.rollback()
                    pause = ERROR_PAUSE_SECONDS
                finally:
                    db.session.remove()
            self.stopping.wait(pause)

    # ------------------------------------------------------------------ heartbeat
    def _beat(self) -> None:
        if time.monotonic() - self._last_beat < HEARTBEAT_SECONDS:
            return
        now = utcnow()
        updated = db.session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.id == self.id)
                                     .values(seen_at=now, delivered=self._delivered))
        if updated.rowcount == 0:
            db.session.add(WorkerHeartbeat(id=self.id, kind=self.kind, started_at=now, seen_at=now,
                                           delivered=self._delivered))
        db.session.commit()
        self._last_beat = time.monotonic()

    def _sign_off(self) -> None:
        with self.app.app_context():
            try:
                db.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == self.id))
                db.session.commit()
            except Exception:
                log.exception("could not remove the heartbeat of %s", self.id)
            finally:
                db.session.remove()
