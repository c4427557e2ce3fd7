"""One web node as production runs it (`gunicorn wsgi:app` with gunicorn.conf.py, Redis for live
updates) holding BENCH_SCALEOUT_WAITERS (1000) open payment screens, each waiting on its SSE stream;
then BENCH_SCALEOUT_PAYMENTS (200) of them are paid by webhook. Pay-to-screen: from the webhook's
POST to the `succeeded` view arriving on that payment's stream, p50/p95 — and the same in this run
with no other waiter open (the baseline), so the ratio is what 1000 waiters cost. Memory per waiter:
the node's RSS (master and workers) before and after the waiters opened.

A scratch PostgreSQL database on BENCH_PG_URL (or TEST_DATABASE_URL, else the local server), dropped
at the end; Redis on BENCH_REDIS_URL (127.0.0.1:6379/0). The clients are asyncio sockets in this
process; the machine's load (`uptime`) is printed beside the figures.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from .common import percentiles, scratch_app

PG_URL = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL") or \
    "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WAITERS = int(os.environ.get("BENCH_SCALEOUT_WAITERS", "1000"))
PAYMENTS = int(os.environ.get("BENCH_SCALEOUT_PAYMENTS", "200"))
# Streams opened at once while the waiters gather (a crowd of phones, not one burst).
OPENING = 50
TARGET_P95_MS = 300
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the one scratch_app configures
ROOT = Path(__file__).resolve().parent.parent
SUCCEEDED = b'data-status="succeeded"'


def main() -> None:
    import redis
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        print(f"Redis is not reachable at {REDIS_URL}: skipped")
        return
    from sqlalchemy import create_engine, text
    server = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", PG_URL)
    name = f"mkassa_bench_scaleout_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _run(server.rsplit("/", 1)[0] + "/" + name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(url: str) -> None:
    from mkassa.extensions import db
    from mkassa.models import User
    from mkassa.services import accept, demo

    app = scratch_app(url)
    settings = app.extensions["mkassa.settings"]
    with app.app_context():
        demo.seed(payments=0)
        owner = db.session.scalar(db.select(User).where(User.login == "demo"))
        made = [accept.create_qr_payment(owner, f"{10 + i % 900},00", settings) for i in range(WAITERS + PAYMENTS)]
        db.session.commit()
        payments = [(p.public_id, p.amount, p.merchant.account_number) for p in made]
        db.session.remove()
        db.engine.dispose()

    port = _free_port()
    env = dict(os.environ, BANK_MODE="sandbox", DATABASE_URL=url, REDIS_URL=REDIS_URL,
               SECRET_KEY=settings.secret_key, WEBHOOK_SECRET=SECRET, OUTBOX_INPROCESS="0",
               PAYMENT_LIFETIME_SECONDS="3600", RATELIMIT_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
               MKASSA_INSTANCE_PATH=settings.instance_path, GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}")
    log_path = Path(settings.instance_path) / "gunicorn.log"
    log = log_path.open("w")
    node = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        asyncio.run(_bench(port, node.pid, payments))
    except Exception:
        print(f"the node's log: {log_path}")
        raise
    finally:
        log.close()
        node.terminate()
        try:
            node.wait(40)
        except subprocess.TimeoutExpired:
            node.kill()


async def _bench(port: int, pid: int, payments: list[tuple[str, int, str]]) -> None:
    await _wait_until_up(port)
    cookie = await _login(port)
    baseline_payments, crowd = payments[:PAYMENTS], payments[PAYMENTS:]

    # Baseline: one screen open at a time, paid.
    baseline = [await _pay_to_screen(port, cookie, payment) for payment in baseline_payments]

    rss_before = _rss_kb(pid)
    started = time.perf_counter()
    streams: dict[str, asyncio.Future] = {}
    readers = []
    gate = asyncio.Semaphore(OPENING)
    for public_id, _, _ in crowd:
        streams[public_id] = asyncio.get_running_loop().create_future()
        readers.append(asyncio.create_task(_wait_on_stream(port, cookie, public_id, streams[public_id], gate)))
    while sum(1 for f in streams.values() if getattr(f, "opened", False)) < len(crowd):
        await asyncio.sleep(0.2)
    opened_in = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_after = _rss_kb(pid)

    # 200 of the 1000 waiting screens paid, one after another, every other screen still open.
    loaded = []
    for public_id, amount, account in crowd[:PAYMENTS]:
        sent = time.perf_counter()
        await _webhook(port, public_id, amount, account)
        arrived = await asyncio.wait_for(streams[public_id], 30)
        loaded.append(arrived - sent)
    health = []
    for _ in range(20):
        sent = time.perf_counter()
        await _request(port, "GET /healthz HTTP/1.1", b"", {})
        health.append(time.perf_counter() - sent)
    for task in readers:
        task.cancel()

    p50, p95 = percentiles(baseline)
    q50, q95 = percentiles(loaded)
    h50, h95 = percentiles(health)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} CPUs")
    print(f"{len(crowd)} SSE waiters opened in {opened_in:.1f} s; node RSS {rss_before / 1024:.0f} → "
          f"{rss_after / 1024:.0f} MB: {(rss_after - rss_before) / len(crowd):.0f} KB per waiter")
    print(f"pay-to-screen, no other waiter:   p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({len(baseline)} payments)")
    print(f"pay-to-screen, {len(crowd)} waiters open: p50 {q50:6.1f} ms  p95 {q95:6.1f} ms  "
          f"(target p95 ≤ {TARGET_P95_MS} ms; ×{q95 / p95:.2f} the baseline's p95)")
    print(f"/healthz beside {len(crowd)} waiters: p50 {h50:.1f} ms  p95 {h95:.1f} ms")


async def _pay_to_screen(port: int, cookie: str, payment: tuple[str, int, str]) -> float:
    done = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(_wait_on_stream(port, cookie, payment[0], done, asyncio.Semaphore(1)))
    while not getattr(done, "opened", False):
        await asyncio.sleep(0.005)
    sent = time.perf_counter()
    await _webhook(port, *payment)
    arrived = await asyncio.wait_for(done, 30)
    reader.cancel()
    return arrived - sent


async def _wait_on_stream(port: int, cookie: str, public_id: str, done: asyncio.Future,
                          gate: asyncio.Semaphore) -> None:
    """A payment screen's stream: reconnects when the server ends it (every 55 s), like EventSource."""
    while not done.done():
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /pay/{public_id}/events HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n"
                         "Accept: text/event-stream\r\nAccept-Language: en\r\n\r\n".encode())
            await writer.drain()
            while (line := await reader.readline()) not in (b"\r\n", b""):
                pass  # the response's headers
            done.opened = True  # type: ignore[attr-defined]
        try:
            while line := await reader.readline():
                if SUCCEEDED in line and not done.done():
                    done.set_result(time.perf_counter())
                    return
        finally:
            writer.close()


async def _webhook(port: int, public_id: str, amount: int, account: str) -> None:
    from standardwebhooks import Webhook
    body = json.dumps({"type": "payment.succeeded", "data": {
        "bank_txn_id": f"txn-{uuid.uuid4().hex[:12]}", "link_type": "dynamic", "transaction_id": public_id,
        "recipient_id": account, "amount": amount, "currency": "417",
        "payer": {"bank": "MBANK", "name_masked": "А***р К."}, "paid_at": datetime.now(timezone.utc).isoformat()}})
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(timezone.utc)
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(SECRET).sign(webhook_id, now, body),
               "Content-Type": "application/json"}
    status, _, _ = await _request(port, "POST /bank/webhooks HTTP/1.1", body.encode(), headers)
    assert status == 200, status


async def _request(port: int, line: str, body: bytes, headers: dict[str, str]) -> tuple[int, list[str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "localhost", "Connection": "close",
                                                 "Content-Length": str(len(body)), **headers}.items())
    writer.write(f"{line}\r\n{head}\r\n".encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    header, _, content = raw.partition(b"\r\n\r\n")
    lines = header.decode().split("\r\n")
    return int(lines[0].split()[1]), lines[1:], content


async def _login(port: int) -> str:
    status, headers, page = await _request(port, "GET /login HTTP/1.1", b"", {})
    cookies = _cookies(headers)
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
    from urllib.parse import urlencode
    form = urlencode({"login": "demo", "password": "demo1234", "csrf_token": token}).encode()
    status, headers, _ = await _request(port, "POST /login HTTP/1.1", form, {
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302, status
    cookies.update(_cookies(headers))
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _cookies(headers: list[str]) -> dict[str, str]:
    found = {}
    for header in headers:
        name, _, value = header.partition(": ")
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            found[key] = rest.split(";", 1)[0]
    return found


async def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if (await _request(port, "GET /healthz HTTP/1.1", b"", {}))[0] == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


def _rss_kb(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)],
                         capture_output=True, text=True).stdout
    return sum(int(value) for value in out.split())


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
