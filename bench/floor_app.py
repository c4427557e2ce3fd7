"""The floor of webhook ingest in Flask: a bare view that runs the captured ingest SQL (bench_webhooks).

It does what no Flask app can skip — HTTP under the same gunicorn, the Standard Webhooks signature
check, the JSON parse — and then the pgbench script's statements on psycopg, prepared, one
connection per thread, no ORM, no extensions, no checks. It credits no real payment (the values are
pgbench's: a random prepared payment, unique ids), so it is a yardstick, never an app: what it reaches
against pgbench is the most any Flask ingest of this SQL can reach on this machine.

Run by bench_webhooks as `gunicorn bench.floor_app:app` with FLOOR_DATABASE_URL, FLOOR_SCRIPT (the
pgbench script's path), FLOOR_ROWS and FLOOR_BASE_ID (its prepared payments) and WEBHOOK_SECRET.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading

import psycopg
from flask import Flask, jsonify, request
from standardwebhooks import Webhook

# Statements end with `;`, or with `\gset prefix` (pgbench stores the row it returns); pipeline marks
# stand alone. pgbench's variables become psycopg's named parameters; `::type` casts stay as they are.
_END = re.compile(r";\n| \\gset (\w+)\n|\\(?:start|end)pipeline\n")
_VARIABLE = re.compile(r"(?<!:):(n|pid|k|bank_webhook_event_id|ledger_transfer_id)\b")


def statements(script: str) -> list[tuple[str, str | None]]:
    """(SQL with psycopg parameters, the \\gset prefix or None) for each statement between BEGIN and COMMIT."""
    body = script.split("BEGIN;\n", 1)[1].rsplit("COMMIT;", 1)[0]
    found, start = [], 0
    for end in _END.finditer(body):
        sql, start = body[start:end.start()].strip(), end.end()
        if sql:
            found.append((_VARIABLE.sub(r"%(\1)s", sql.replace("%", "%%")), end.group(1)))
    return found


def create_app() -> Flask:
    steps = statements(open(os.environ["FLOOR_SCRIPT"], encoding="utf-8").read())
    url, secret = os.environ["FLOOR_DATABASE_URL"], os.environ["WEBHOOK_SECRET"]
    rows, base = int(os.environ["FLOOR_ROWS"]), int(os.environ["FLOOR_BASE_ID"])
    local = threading.local()
    app = Flask(__name__)

    @app.post("/bank/webhooks")
    def receive():
        body = request.get_data()
        Webhook(secret).verify(body, dict(request.headers), json_parse=False)
        json.loads(body)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url, prepare_threshold=0)  # prepared, as pgbench -M prepared
        n = random.randint(1, rows)
        params: dict[str, int | None] = {"n": n, "pid": base + n, "k": random.randint(1, 4611686018427387903)}
        with conn.transaction(), conn.cursor() as cursor:
            for sql, gset in steps:
                cursor.execute(sql, params)
                if gset:
                    row = cursor.fetchone()
                    params[f"{gset}id"] = row[0] if row else None
        return jsonify(outcome="processed")

    return app


app = create_app() if "FLOOR_SCRIPT" in os.environ else None
