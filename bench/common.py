"""Helpers shared by the benchmarks: settings, a scratch app, percentiles."""
from __future__ import annotations

import os
import statistics
import tempfile

PAYMENTS = int(os.environ.get("BENCH_PAYMENTS", "1000000"))


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p95 * 1000


def scratch_app(database_url: str | None = None):
    """An app on its own database (a temporary SQLite file unless a URL is given), schema upgraded."""
    from flask_migrate import upgrade

    from mkassa import create_app
    from mkassa.config import Settings
    instance = tempfile.mkdtemp(prefix="mkassa-bench-")
    url = database_url or f"sqlite:///{instance}/bench.sqlite3"
    app = create_app(Settings(database_url=url, instance_path=instance, secret_key="bench-" + "x" * 40,
                              webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", outbox_inprocess=False,
                              extra={"ratelimit_disabled": True}))
    with app.app_context():
        upgrade(revision="heads")
    return app
