"""With REDIS_URL set, request limits are shared by every app process through Redis.

(Sign-in and recovery attempt limits live in the database, shared by construction: services.throttle.)"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from mkassa.blueprints.auth.recovery import RECOVER_LIMIT_PER_ADDRESS

RECOVER_REQUESTS = int(RECOVER_LIMIT_PER_ADDRESS.split()[0])

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

ATTEMPTS = textwrap.dedent("""
    import re, sys
    from mkassa import create_app
    app = create_app()
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/recover").get_data(as_text=True)).group(1)
    for _ in range(int(sys.argv[1])):
        print(client.post("/recover", data={"phone": "12345", "csrf_token": token}).status_code)
""")


def _redis_available() -> bool:
    import redis
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return False


def _run(attempts: int, env: dict[str, str]) -> list[int]:
    out = subprocess.run([sys.executable, "-c", ATTEMPTS, str(attempts)], env=env, capture_output=True,
                         text=True, timeout=120, cwd=os.getcwd())
    assert out.returncode == 0, out.stderr[-2000:]
    return [int(line) for line in out.stdout.split()]


@pytest.mark.slow  # two app processes
def test_two_processes_share_the_recovery_flood_limit(app, database_url, tmp_path):
    if not _redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable: CI requires it")
        pytest.skip("Redis is not reachable")
    prefix = f"mkassa-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "REDIS_URL": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix, "DATABASE_URL": database_url,
           "MKASSA_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40, "OUTBOX_INPROCESS": "0",
           "PYTHONPATH": os.getcwd()}
    assert _run(RECOVER_REQUESTS, env) == [422] * RECOVER_REQUESTS
    # A second process sees the first one's attempts: the next one is refused.
    assert _run(1, env) == [429]
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    assert any(client.scan_iter(f"*{prefix}*"))
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
