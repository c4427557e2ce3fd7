"""Real server processes for the production tests: `gunicorn wsgi:app` and `flask outbox run`, started
as the README and docs/DEPLOY.md say, on the test's own PostgreSQL database and Redis.

Production answers only to its public host over HTTPS behind a proxy, so the client here speaks as
that proxy would: Host of PUBLIC_BASE_URL, X-Forwarded-Proto https (TRUSTED_PROXIES=1), and it
keeps the `__Host-` cookies itself (a cookie jar would not send Secure cookies over plain HTTP).
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from ..conftest import TEST_WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PUBLIC_HOST = "kassa.test"
START_SECONDS = 60


def require_postgresql_and_redis(request) -> None:
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("needs PostgreSQL (--db=postgresql)")
    import redis
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable: CI requires it")
        pytest.skip("Redis is not reachable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment production refuses to start without (mkassa/config.py), plus the test's own
    Redis key prefix. The gateways are never called by what these tests do."""
    return dict(
        os.environ, BANK_MODE="production", DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
        SECRET_KEY="production-test-secret-" + "x" * 32, WEBHOOK_SECRET=TEST_WEBHOOK_SECRET,
        SMS_GATEWAY_URL="http://127.0.0.1:9/sms", SMS_GATEWAY_TOKEN="sms-token",
        COREBANK_URL="http://127.0.0.1:9/bank", COREBANK_TOKEN="bank-token",
        MAIL_SERVER="127.0.0.1", MAIL_SENDER="MKASSA <no-reply@kassa.test>",
        PUBLIC_BASE_URL=f"https://{PUBLIC_HOST}", TRUSTED_PROXIES="1",
        RATELIMIT_KEY_PREFIX=f"mkassa-test-{uuid.uuid4().hex[:8]}", MKASSA_INSTANCE_PATH=str(instance),
        **extra)


def sandbox_env(database_url: str, instance: Path, public_base_url: str, **extra: str) -> dict[str, str]:
    """The sandbox bank on PostgreSQL and Redis, the outbox in workers of its own (as in production):
    a payment needs no real bank, and a webhook is signed with the test's secret."""
    return dict(
        os.environ, BANK_MODE="sandbox", DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
        SECRET_KEY="scale-out-test-secret-" + "x" * 32, WEBHOOK_SECRET=TEST_WEBHOOK_SECRET,
        OUTBOX_INPROCESS="0", PUBLIC_BASE_URL=public_base_url,
        RATELIMIT_KEY_PREFIX=f"mkassa-test-{uuid.uuid4().hex[:8]}", MKASSA_INSTANCE_PATH=str(instance),
        **extra)


class FailoverProxy:
    """The load balancer in small: each connection goes to the first backend that accepts it, so a
    killed web process's clients land on the next one when they reconnect. It notes where each
    request went (its request line)."""

    def __init__(self, ports: list[int], port: int = 0) -> None:
        self.ports = ports
        self.routed: list[tuple[int, str]] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._open.append(client)
        for port in self.ports:
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                continue
        else:
            client.close()
            return
        self._open.append(upstream)
        upstream.settimeout(None)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream, port)

    def _pipe(self, source: socket.socket, target: socket.socket, port: int | None = None) -> None:
        try:
            while data := source.recv(65536):
                # A browser sends one request at a time on a connection: a request starts a chunk.
                if port is not None and data.split(b" ", 1)[0] in (b"GET", b"POST", b"HEAD"):
                    self.routed.append((port, data.split(b"\r\n", 1)[0].decode(errors="replace")))
                target.sendall(data)
        except OSError:
            pass
        finally:  # one side ended or died: so does the other (a browser then reconnects)
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()
        for sock in self._open:
            sock.close()


class Processes:
    """Started processes, stopped (and their logs closed) at the end of the test."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[subprocess.Popen, object]] = []

    def gunicorn(self, env: dict[str, str], name: str = "web") -> tuple[subprocess.Popen, int]:
        """`gunicorn wsgi:app` as the README writes it; the address through GUNICORN_CMD_ARGS."""
        port = free_port()
        env = dict(env, GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}")
        process = self._start([sys.executable, "-m", "gunicorn", "wsgi:app"], env, name)
        wait_until_up(port)
        return process, port

    def outbox_worker(self, env: dict[str, str], name: str = "worker") -> subprocess.Popen:
        return self._start([sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "run"], env, name)

    def _start(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")  # kept for a failing run's post-mortem
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started.append((process, log))
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the process and its children (a gunicorn master and its workers): a crash."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.started:
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            log.close()


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            if Client(port).get("/healthz", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers /healthz on port {port}")


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode()


class Client:
    """One browser behind the TLS proxy: its cookies, and the headers the proxy adds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def headers(self, path: str) -> dict[str, str]:
        headers = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                   "Accept-Language": "en", "Referer": f"https://{PUBLIC_HOST}{path}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def open(self, method: str, path: str, body: bytes | None = None, timeout: float = 30,
             headers: dict[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A request whose answer is not read yet (a stream): the caller closes the connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={**self.headers(path), **(headers or {})})
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        for value in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return conn, response

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 30,
                headers: dict[str, str] | None = None) -> Response:
        conn, response = self.open(method, path, body, timeout, headers)
        try:
            return Response(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, timeout: float = 30) -> Response:
        return self.request("GET", path, timeout=timeout)

    def post_form(self, path: str, data: dict[str, str]) -> Response:
        return self.request("POST", path, urllib.parse.urlencode(data).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def csrf(self, path: str) -> str:
        page = self.get(path).text
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def login(self, login: str, password: str = "demo1234") -> None:
        token = self.csrf("/login")
        answer = self.post_form("/login", {"login": login, "password": password, "csrf_token": token})
        assert answer.status == 302, answer.text[:500]
