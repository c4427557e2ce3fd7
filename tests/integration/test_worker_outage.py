"""Issue #13, "Done when": the core bank down does not stop a "forgot password" SMS.

BANK_MODE=production, the core bank's URL on a closed port, the SMS gateway a local HTTP server and
`flask outbox run` a real process: the SMS reaches the gateway within 5 s, the worker is still running
a minute later, the bank console shows the failing reconciliation job, and SIGTERM stops it cleanly.
Production refuses SQLite, so this runs on PostgreSQL (--db=postgresql).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import OutboxMessage, Payment, WorkerHeartbeat, utcnow
from mkassa.services import accept

from ..conftest import TEST_WEBHOOK_SECRET
from .servers import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
HTTPS = "https://localhost"  # also the PUBLIC_BASE_URL: production answers only its own host
SMS_WITHIN_SECONDS = 5
STILL_RUNNING_AFTER_SECONDS = 60
SECRET = "outage-drill-secret-" + "x" * 32


class SmsGateway:
    """A local SMS gateway: keeps every request with the moment it arrived."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[float, dict, dict]] = []
        self.status = status
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.received.append((time.monotonic(), dict(self.headers), body))
                self.send_response(gateway.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed: connection refused


def production_env(database_url: str, instance: Path, sms_url: str, corebank_url: str) -> dict[str, str]:
    return dict(os.environ, BANK_MODE="production", DATABASE_URL=database_url, SECRET_KEY=SECRET,
                WEBHOOK_SECRET=TEST_WEBHOOK_SECRET, SMS_GATEWAY_URL=sms_url, SMS_GATEWAY_TOKEN="sms-token",
                COREBANK_URL=corebank_url, COREBANK_TOKEN="bank-token", MAIL_SERVER="127.0.0.1",
                MAIL_PORT=str(closed_port()), MAIL_SENDER="MKASSA <no-reply@bank.example>",
                PUBLIC_BASE_URL=HTTPS, REDIS_URL=REDIS_URL, MKASSA_INSTANCE_PATH=str(instance), LOG_LEVEL="INFO")


@pytest.fixture
def outage(request, database_url, make_app, tmp_path):
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("production refuses SQLite: needs --db=postgresql")
    gateway = SmsGateway()
    corebank_url = f"http://127.0.0.1:{closed_port()}/core"
    env = production_env(database_url, tmp_path / "worker", gateway.url, corebank_url)
    prod = make_app(bank_mode="production", secret_key=SECRET, sms_gateway_url=gateway.url,
                    sms_gateway_token="sms-token", corebank_url=corebank_url, corebank_token="bank-token",
                    session_cookie_secure=True, mail_server="127.0.0.1", mail_sender="MKASSA <no-reply@bank.example>",
                    public_base_url=HTTPS, redis_url=REDIS_URL)
    yield gateway, env, prod
    gateway.close()


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "run"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def heartbeats() -> int:
    count = db.session.scalar(select(func.count()).select_from(WorkerHeartbeat))
    db.session.commit()
    return count


def csrf(client, path: str) -> str:
    html = client.get(path, base_url=HTTPS).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.mark.slow  # a production worker process
def test_forgot_password_sms_goes_out_while_the_core_bank_is_down(app, demo, admin_user, outage, tmp_path):
    gateway, env, prod = outage
    # A payment past its lifetime: the reconciliation job must ask the (unreachable) core bank about it.
    overdue = accept.create_qr_payment(demo.cashier, "10", app.extensions["mkassa.settings"],
                                       now=utcnow() - timedelta(minutes=5)).id
    db.session.commit()

    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    started = time.monotonic()
    try:
        assert wait_for(lambda: heartbeats() == 1, 20), log_path.read_text()

        client = prod.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        asked = time.monotonic()
        response = client.post("/recover", base_url=HTTPS, headers={"Referer": f"{HTTPS}/recover"},
                               data={"phone": demo.owner.phone, "csrf_token": csrf(client, "/recover")})
        assert response.status_code == 302
        assert wait_for(lambda: gateway.received, SMS_WITHIN_SECONDS), log_path.read_text()
        arrived, headers, body = gateway.received[0]
        assert arrived - asked <= SMS_WITHIN_SECONDS
        assert body["phone"] == demo.owner.phone and re.search(r"\b\d{4}\b", body["text"])
        assert headers["Authorization"] == "Bearer sms-token"

        time.sleep(max(0.0, STILL_RUNNING_AFTER_SECONDS - (time.monotonic() - started)))
        assert worker.poll() is None, log_path.read_text()
        assert len(gateway.received) == 1  # delivered once, not again on every beat
        assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.kind == "sms")) == "sent"
        assert db.session.get(Payment, overdue).status == "pending"  # nothing decided without the Bank
        db.session.commit()

        client.post("/login", base_url=HTTPS, headers={"Referer": f"{HTTPS}/login"}, data={"login": "operator", "password": "operator-pass-1",
                                                    "csrf_token": csrf(client, "/login")})
        page = client.get("/admin/workers", base_url=HTTPS)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        row = re.search(r'<tr data-testid="job-reconcile_payments" class="flagged">(.*?)</tr>', html, re.S)
        assert row, html
        assert "failing" in row.group(1) and "URLError" in row.group(1)
        assert 'data-testid="worker-row"' in html
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert code == 0, log_path.read_text()
    assert heartbeats() == 0  # it signed off
