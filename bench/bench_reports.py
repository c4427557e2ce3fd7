"""Home and reports at BENCH_PAYMENTS payments (default 1 000 000): server time p50/p95 per screen, and
the same templates rendered with the same data from memory (no database), so the ratio shows what
the queries cost. Runs on a scratch SQLite file; BENCH_DATABASE_URL=postgresql://… runs on PostgreSQL
(a database that the benchmark fills: give it an empty one).
"""
from __future__ import annotations

import os
import re
import time

from flask import render_template, template_rendered

from .common import PAYMENTS, percentiles, scratch_app

RUNS = int(os.environ.get("BENCH_RUNS", "30"))
SCREENS = [
    ("home", "/"),
    ("reports today", "/reports/"),
    ("reports this week", "/reports/?period=week"),
    ("reports this month", "/reports/?period=month"),
    ("reports month, one cashier, card", "/reports/?period=month&method=card&cashier={cashier}"),
    ("reports month, all statuses", "/reports/?period=month&status=all"),
    ("reports a year by day", "/reports/?period=custom&from={year_ago}&to={today}"),
]


def main() -> None:
    from datetime import timedelta

    from mkassa.extensions import db
    from mkassa.models import User
    from mkassa.services import bigdata
    from mkassa.timeutil import local_today

    app = scratch_app(os.environ.get("BENCH_DATABASE_URL"))
    with app.app_context():
        started = time.perf_counter()
        result = bigdata.generate(PAYMENTS)
        bigdata.analyze()
        print(f"data: {db.engine.dialect.name}, {result.payments} payments, {result.transfers} transfers, "
              f"{result.entries} ledger entries generated in {time.perf_counter() - started:.0f} s")
        cashier = db.session.scalar(db.select(User.public_id).where(User.login == f"{bigdata.BIG_LOGIN}-c1"))
        db.session.remove()
    today = local_today()
    fill = {"cashier": cashier, "today": today.isoformat(), "year_ago": (today - timedelta(days=364)).isoformat()}

    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    client.post("/login", data={"login": bigdata.BIG_LOGIN, "password": bigdata.BIG_PASSWORD, "csrf_token": token})

    captured = {}

    def capture(sender, template, context, **extra):
        # Keep what the view rendered, detached with everything already loaded, for the memory run.
        captured["template"], captured["context"] = template.name, dict(context)
        db.session.expunge_all()

    print(f"{'screen':38} {'server p50':>10} {'p95':>8}   {'memory p50':>10} {'p95':>8}   ratio p50")
    for label, path in SCREENS:
        url = path.format(**fill)
        first = client.get(url)  # warm caches once, like a second visit
        if first.status_code != 200:
            print(f"{label:38} HTTP {first.status_code}")
            continue
        server = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            client.get(url).get_data()
            server.append(time.perf_counter() - t0)
        template_rendered.connect(capture, app)
        try:
            client.get(url)
        finally:
            template_rendered.disconnect(capture, app)
        memory = _render_from_memory(app, url, captured["template"], captured["context"])
        s50, s95 = percentiles(server)
        m50, m95 = percentiles(memory)
        print(f"{label:38} {s50:8.1f}ms {s95:6.1f}ms   {m50:8.1f}ms {m95:6.1f}ms   {s50 / m50:6.1f}x", flush=True)


def _render_from_memory(app, url: str, template: str, context: dict) -> list[float]:
    from flask_login import login_user
    user = context.get("current_user")
    keep = {k: v for k, v in context.items() if k not in ("g", "request", "session", "current_user", "config")}
    times = []
    with app.test_request_context(url):
        if user is not None:
            login_user(user)
        for _ in range(RUNS):
            t0 = time.perf_counter()
            render_template(template, **keep)
            times.append(time.perf_counter() - t0)
    return times
