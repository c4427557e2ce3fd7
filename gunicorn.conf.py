"""Gunicorn's settings for `gunicorn wsgi:app` (read by itself from the working directory).

Why gevent: every open home or payment screen holds one request open for up to a minute (a
server-sent-events stream, `pay.STREAM_SECONDS`) and opens a new one when it ends. Gunicorn's default
sync worker serves one request at a time, so one phone made /healthz wait half a minute and the
worker was killed. Measured against gthread with 512 threads per worker (docs/DEPLOY.md): gevent
opened 600 streams 5 times faster, kept /healthz within 2 s while they opened (gthread: 49 s), and
holds a stream in about half the memory.

What gevent asks of the code: no request may compute for long (it holds its worker's other
requests meanwhile; large exports already run as background jobs), and the app must be loaded after
gevent patched the standard library — psycopg picks its cooperative wait only then — so
`preload_app` stays off.

The address: gunicorn's own rule ($PORT → 0.0.0.0:$PORT, else 127.0.0.1:8000), or `--bind`.
Every value below can be changed from the environment without editing this file.
"""
from __future__ import annotations

import os

# Worker processes per node: one per core is enough for I/O-bound requests; two at least, so that
# a node keeps serving while one worker restarts.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
# Connections one worker holds at once, open streams included (2 × 1000 per node by default).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
preload_app = False
# A worker whose main loop stays silent this long is restarted (a request computing that long).
timeout = 30
# On SIGTERM (deploys) requests in hand get this long; an open stream is cut and its browser
# reconnects (EventSource does by itself) to a node that is up.
graceful_timeout = 30
# Kept-alive connections from the load balancer are closed after this many idle seconds.
keepalive = 5
# Gunicorn's runtime control socket (~/.gunicorn/gunicorn.ctl) is not used: deploys signal the
# master (systemd), and two instances on one host would share that one path.
control_socket_disable = True
