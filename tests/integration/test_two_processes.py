"""Two app processes on one PostgreSQL and Redis: a webhook handled by one reaches a screen served
by the other (live updates fan out through Redis pub/sub)."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from mkassa.extensions import db
from mkassa.services import accept

from ..conftest import TEST_WEBHOOK_SECRET
from .servers import REDIS_URL, ROOT, free_port, require_postgresql_and_redis
from .test_pay_qr import signed, succeeded


@pytest.fixture
def two_processes(request, database_url, tmp_path):
    require_postgresql_and_redis(request)
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, BANK_MODE="sandbox",
               SECRET_KEY="two-process-secret-" + "x" * 32, WEBHOOK_SECRET=TEST_WEBHOOK_SECRET,
               OUTBOX_INPROCESS="0", MKASSA_INSTANCE_PATH=str(tmp_path))
    processes, urls, logs = [], [], []
    for number in range(2):
        port = free_port()
        logs.append((tmp_path / f"app-{number}.log").open("w"))  # kept for a failing run's post-mortem
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port), "--no-reload",
             "--with-threads"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=logs[-1]))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            _wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        for log in logs:
            log.close()


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


@pytest.mark.slow  # two app processes
def test_webhook_on_one_process_reaches_the_screen_on_the_other(app, demo, two_processes):
    first, second = two_processes
    payment = accept.create_qr_payment(demo.cashier, "77,70", app.extensions["mkassa.settings"])
    db.session.commit()
    event = succeeded(payment)

    cashier = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = cashier.open(second + "/login").read().decode()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    cashier.open(second + "/login", data=urllib.parse.urlencode(
        {"login": "cashier", "password": "demo1234", "csrf_token": csrf}).encode())

    stream = cashier.open(f"{second}/pay/{payment.public_id}/events", timeout=30)
    assert stream.readline().startswith(b": open")
    received: list[str] = []

    def read():
        for line in stream:
            received.append(line.decode())
            if line.startswith(b"event: done"):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    body = json.dumps(event)
    request = urllib.request.Request(first + "/bank/webhooks", data=body.encode(), headers=signed(body))
    assert urllib.request.urlopen(request, timeout=10).status == 200
    reader.join(20)
    html = "".join(received)
    assert 'data-status="succeeded"' in html and "event: done" in html
    status = cashier.open(f"{second}/pay/{payment.public_id}/status").read().decode()
    assert 'data-status="succeeded"' in status
