"""gunicorn.conf.py, the production process model, and the limits that must follow it."""
from __future__ import annotations

import runpy
from pathlib import Path

from mkassa import live

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_gunicorn_runs_gevent_workers_loaded_after_patching():
    conf = runpy.run_path(str(CONF))
    assert conf["worker_class"] == "gevent"
    assert conf["preload_app"] is False  # psycopg must be imported after gevent patched select
    assert conf["workers"] >= 2


def test_a_worker_full_of_streams_never_runs_out_of_redis_connections():
    """Every open stream holds a pub/sub connection from its process's pool (redis-py caps it at 100
    unless told): the cap is above what one web worker holds at once."""
    conf = runpy.run_path(str(CONF))
    assert live.REDIS_MAX_CONNECTIONS > conf["worker_connections"]
    broker = live.RedisBroker("redis://127.0.0.1:1/0")  # never connected: only the pool's settings
    assert broker._redis.connection_pool.max_connections == live.REDIS_MAX_CONNECTIONS
