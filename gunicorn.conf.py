"""Gunicorn's settings for `gunicorn wsgi:app` (read by itself from the working directory).

Why threads: every open home or payment screen holds one request open for up to a minute (a
server-sent-events stream, `pay.STREAM_SECONDS`). Gunicorn's default sync worker serves one request
at a time, so one phone made /healthz wait half a minute and the worker was killed. A gthread worker
gives each stream a thread that sleeps in a blocking read (Redis pub/sub or a queue), which costs
little memory and no CPU; psycopg, redis-py and the outbox threads stay plain blocking code, with no
monkey-patching (gevent was measured too: see docs/DEPLOY.md).

The address: gunicorn's own rule ($PORT → 0.0.0.0:$PORT, else 127.0.0.1:8000), or `--bind`.
Every value below can be changed from the environment without editing this file.
"""
from __future__ import annotations

import os

# Worker processes per node. Two keep a node serving while one restarts; more add CPU, not streams.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# Threads per worker = requests one worker serves at once, open streams included: 2 × 128 streams
# per node, each idle thread a few hundred KB of memory.
threads = int(os.environ.get("GUNICORN_THREADS", "128"))
# gthread hands every accepted connection to its thread pool, even when all threads are busy, where
# it would wait behind minute-long streams. Accepting no more connections than threads leaves the
# next one to a worker with a free thread (the kernel offers it to every worker listening).
worker_connections = threads
# A silent worker (its main loop, not a request) is restarted after this long. Streams do not count:
# gthread's main loop keeps beating while threads stream.
timeout = 30
# On SIGTERM (deploys) requests in hand get this long; an open stream is cut and its browser
# reconnects (EventSource does by itself) to a node that is up.
graceful_timeout = 30
# No kept-alive connections: an idle one would hold a connection slot (above) that a request could
# use; the load balancer on the same network opens a new connection cheaply.
keepalive = 0
# Gunicorn's runtime control socket (~/.gunicorn/gunicorn.ctl) is not used: deploys signal the
# master (systemd), and two instances on one host would share that one path.
control_socket_disable = True
