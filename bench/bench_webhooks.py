"""Webhook ingest on PostgreSQL, exactly once, against pgbench running the same SQL transaction.

1. A database of the benchmark's own on BENCH_PG_URL (else TEST_DATABASE_URL, else
   postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end; the demo merchant; BENCH_WEBHOOKS
   (default 2000) pending QR payments, and BENCH_PGBENCH_ROWS (default 50 000) more for pgbench.
2. The app under gunicorn in a subprocess (BENCH_WEBHOOK_WORKERS workers, default 2, 4 threads each),
   as in production; BENCH_WEBHOOK_CLIENTS threads (default 4) of this process post one signed
   `payment.succeeded` per payment over real HTTP (keep-alive) to /bank/webhooks. Signing is the
   Bank's work and is done before the clock starts.
3. Exactly once: every payment succeeded and credited by one ledger transfer, processing grew by the
   sum of the amounts, the ledger sums to zero; then every webhook again (same ids, new signatures)
   and every bank transaction again under new webhook ids: no money moves.
4. The SQL of one ingest, captured with SQLAlchemy's before_cursor_execute, becomes a pgbench script
   (BEGIN; the same statements; COMMIT) whose per-webhook values are pgbench variables: a random
   prepared payment, unique webhook/bank ids. `pgbench -n -M prepared -c <clients> -T
   BENCH_PGBENCH_SECONDS` (default 10) runs it on the same database; rates and ratio are printed.
5. The floor: the same deliveries to a bare Flask view that runs that script on psycopg
   (bench/floor_app.py) under the same gunicorn; its rate against pgbench is the most any Flask
   ingest of this SQL reaches on this machine, and the app's rate against it is what the app adds.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, time as time_of_day, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .common import scratch_app

PG_URL = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL") or \
    "postgresql://postgres@127.0.0.1:5432/postgres"
COUNT = int(os.environ.get("BENCH_WEBHOOKS", "2000"))
CLIENTS = int(os.environ.get("BENCH_WEBHOOK_CLIENTS", "4"))
# Issue #19: the hot rows (a cashier's rollup row of the day, a merchant's and the Bank's ledger
# accounts) under this many concurrent writers, paying the payments of as many cashiers of
# WRITER_SHOPS shops: what a busy hour of many tills looks like to the ingest.
WRITERS = int(os.environ.get("BENCH_WEBHOOK_WRITERS", "40"))
WRITER_SHOPS = 10
WRITER_WORKERS = 4  # × WRITERS / 4 threads: a connection each, within SQLAlchemy's pool of 5 + 10
WORKERS = int(os.environ.get("BENCH_WEBHOOK_WORKERS", "2"))
THREADS_PER_WORKER = 4
PGBENCH_ROWS = int(os.environ.get("BENCH_PGBENCH_ROWS", "50000"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "10"))
TARGET_RATIO = 0.5  # issue #19: ingest at least half as fast as pgbench running its SQL
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the one scratch_app configures
ROOT = Path(__file__).resolve().parent.parent
# Ids of the one captured ingest, far from every other number in it, so that each is recognised by
# its value alone when the captured statements are turned into a pgbench script.
CAPTURE_PAYMENT_ID = 900_000_001
CAPTURE_EVENT_ID = 800_000_001
CAPTURE_TRANSFER_ID = 700_000_001
PGBENCH_BASE_ID = 1_000_000_000  # pgbench's prepared payments: ids BASE + n, public ids PGB0…0n


def main() -> None:
    try:
        import psycopg
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:  # any failure to reach it: the benchmark has nothing to run on
        print(f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}): skipped")
        return
    with _database() as url:
        _run(url)


@contextmanager
def _database():
    import psycopg
    name = f"mkassa_bench_{os.getpid()}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_URL)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlalchemy_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def _run(url: str) -> None:
    from mkassa.extensions import db
    from mkassa.models import User
    from mkassa.services import accept, demo

    app = scratch_app(_sqlalchemy_url(url))
    settings = app.extensions["mkassa.settings"]
    with app.app_context():
        demo.seed(payments=0)
        cashier = db.session.scalar(db.select(User).where(User.login == "cashier"))
        payments = [accept.create_qr_payment(cashier, f"{50 + i % 4950},{i % 100:02d}", settings)
                    for i in range(COUNT)]
        tills = _tills(WRITER_SHOPS, WRITERS)
        contended = [accept.create_qr_payment(tills[i % len(tills)], f"{50 + i % 4950},{i % 100:02d}", settings)
                     for i in range(COUNT)]
        db.session.commit()
        targets = [(p.id, p.public_id, p.amount, p.merchant.account_number) for p in payments]
        contended = [(p.public_id, p.amount, p.merchant.account_number) for p in contended]
        merchant_id = cashier.merchant_id
        _prepare_pgbench_rows(payments[0].id)
        script = _capture_script(app, cashier)
        db.session.remove()
    _vacuum(url)
    print(f"postgresql: {COUNT} pending payments to credit over HTTP, {COUNT} more of {WRITERS} cashiers in "
          f"{WRITER_SHOPS} shops, {PGBENCH_ROWS} more for pgbench")

    deliveries = [_event(public_id, amount, account) for _, public_id, amount, account in targets]
    with app.app_context():
        before = _snapshot(merchant_id, [t[0] for t in targets], [d[0] for d in deliveries])
    with _gunicorn(url) as base:
        rate, outcomes = _post_all(base, deliveries)
        with app.app_context():
            after = _snapshot(merchant_id, [t[0] for t in targets], [d[0] for d in deliveries])
        print(f"ingest      {COUNT} webhooks, {CLIENTS} clients → {WORKERS}×{THREADS_PER_WORKER} gunicorn: "
              f"{rate:8.0f} webhooks/s   answers {_tally(outcomes)}")
        _report_exactly_once(before, after, sum(t[2] for t in targets), COUNT)

        replay_rate, replayed = _post_all(base, deliveries)
        redelivery = [(f"msg_{uuid.uuid4().hex}", body) for _, body in deliveries]
        redelivery_rate, redelivered = _post_all(base, redelivery)
        with app.app_context():
            final = _snapshot(merchant_id, [t[0] for t in targets], [d[0] for d in deliveries])
        print(f"replay      same webhook ids:                 {replay_rate:8.0f} webhooks/s   answers "
              f"{_tally(replayed)}")
        print(f"redelivery  same bank txns, new webhook ids:  {redelivery_rate:8.0f} webhooks/s   answers "
              f"{_tally(redelivered)}")
        moved = {k: (after[k], final[k]) for k in ("processing", "transfers", "credited", "ledger_sum")
                 if after[k] != final[k]}
        print("replays changed nothing: " + ("yes" if not moved and final["attempts"] == 2 * COUNT
                                             else f"NO {moved}, attempts {final['attempts']}"))

    _contention(url, [_event(*t) for t in contended])
    tps = _pgbench(url, script)
    if tps is not None:
        print(f"pgbench     same SQL transaction, -c {CLIENTS} -T {PGBENCH_SECONDS}, prepared: {tps:8.0f} tx/s")
        ratio = rate / tps
        print(f"ratio       ingest / pgbench = {ratio:.3f}, target >= {TARGET_RATIO}: "
              f"{'met' if ratio >= TARGET_RATIO else 'NOT met'} (pgbench is the SQL alone: no HTTP, signature, "
              f"JSON, ORM or Python; the app also pings its pooled connection once per request)")
        floor = _floor(url, script, deliveries)
        print(f"floor       a bare Flask view running the same SQL on psycopg (bench/floor_app.py), same gunicorn "
              f"and clients: {floor:8.0f} webhooks/s")
        print(f"ratio       floor / pgbench = {floor / tps:.3f}: the most a Flask ingest of this SQL reaches here; "
              f"ingest / floor = {rate / floor:.3f}")
    with app.app_context():
        db.engine.dispose()
    shutil.rmtree(app.instance_path, ignore_errors=True)


# ------------------------------------------------------------------------------------ the ingest


def _event(public_id: str, amount: int, account: str) -> tuple[str, str]:
    """One `payment.succeeded` as the Bank sends it: (webhook id, JSON body)."""
    from mkassa.gateways.sandbox import bank as sandbox_bank
    body = {"type": "payment.succeeded", "data": {
        "bank_txn_id": f"sbx-{uuid.uuid4().hex}", "link_type": "dynamic", "transaction_id": public_id,
        "recipient_id": account, "amount": amount, "currency": "417",
        "payer": {"bank": "MBANK", "name_masked": sandbox_bank.PAYER_NAME_MASKED},
        "paid_at": datetime.now(timezone.utc).isoformat()}}
    return sandbox_bank.new_webhook_id(), json.dumps(body)


def _signed(webhook_id: str, body: str) -> dict[str, str]:
    from standardwebhooks import Webhook
    now = datetime.now(timezone.utc)
    return {"Content-Type": "application/json", "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": Webhook(SECRET).sign(webhook_id, now, body)}


def _post_all(base: str, deliveries: list[tuple[str, str]],
              clients: int = CLIENTS) -> tuple[float, list[tuple[int, str]]]:
    """POST every delivery from `clients` threads on keep-alive connections; returns (per second, answers)."""
    requests = [(body.encode(), _signed(wid, body)) for wid, body in deliveries]
    answers: list[tuple[int, str] | None] = [None] * len(requests)
    cursor = iter(range(len(requests)))
    lock = threading.Lock()
    host, port = urlsplit(base).hostname, urlsplit(base).port

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                body, headers = requests[i]
                conn.request("POST", "/bank/webhooks", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                answers[i] = (response.status, json.loads(payload).get("outcome", "?"))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return len(requests) / elapsed, [a or (0, "no answer") for a in answers]


def _tally(answers: list[tuple[int, str]]) -> str:
    counts: dict[str, int] = {}
    for status, outcome in answers:
        key = f"{status} {outcome}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n}× {key}" for key, n in sorted(counts.items()))


def _snapshot(merchant_id: int, payment_ids: list[int], webhook_ids: list[str]) -> dict[str, int]:
    """What the exactly-once checks compare, read fresh from the database."""
    from sqlalchemy import func, select

    from mkassa.extensions import db
    from mkassa.models import BankWebhookEvent, LedgerEntry, LedgerTransfer, Payment
    from mkassa.services import ledger
    db.session.remove()
    transfer_rows = select(LedgerTransfer.id).where(LedgerTransfer.kind == "payment",
                                                     LedgerTransfer.payment_id.in_(payment_ids))
    processing = ledger.get_account("processing", merchant_id)
    snapshot = {
        "succeeded": db.session.scalar(select(func.count()).where(Payment.id.in_(payment_ids),
                                                                  Payment.status == "succeeded")),
        "transfers": db.session.scalar(select(func.count()).select_from(transfer_rows.subquery())),
        "paid_once": db.session.scalar(select(func.count(func.distinct(LedgerTransfer.payment_id)))
                                       .where(LedgerTransfer.kind == "payment",
                                              LedgerTransfer.payment_id.in_(payment_ids))),
        "credited": int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                          .where(LedgerEntry.transfer_id.in_(transfer_rows),
                                                 LedgerEntry.account_id == processing.id))),
        "processing": ledger.balances(merchant_id)["processing"],
        "ledger_sum": ledger.total_sum(),
        "ledger_consistent": int(ledger.entries_sum_matches_balances()),
        "events": db.session.scalar(select(func.count()).where(BankWebhookEvent.webhook_id.in_(webhook_ids),
                                                               BankWebhookEvent.outcome == "processed")),
        "attempts": int(db.session.scalar(select(func.coalesce(func.sum(BankWebhookEvent.attempts), 0))
                                          .where(BankWebhookEvent.webhook_id.in_(webhook_ids)))),
    }
    db.session.remove()
    return snapshot


def _report_exactly_once(before: dict[str, int], after: dict[str, int], total: int, count: int) -> None:
    checks = {
        "every payment succeeded": after["succeeded"] == count,
        "one ledger transfer per payment": after["transfers"] == count == after["paid_once"],
        "credited = sum of the amounts": after["credited"] == total,
        "processing grew by that sum": after["processing"] - before["processing"] == total,
        "ledger sums to zero": after["ledger_sum"] == 0 and after["ledger_consistent"] == 1,
        "one event recorded per webhook": after["events"] == count,
    }
    failed = [name for name, ok in checks.items() if not ok]
    print(f"exactly once: {'yes' if not failed else 'NO: ' + ', '.join(failed)} "
          f"({after['transfers']} transfers, {total / 100:,.2f} som credited, ledger sum {after['ledger_sum']})")


@contextmanager
def _gunicorn(url: str, app: str = "wsgi:app", extra_env: dict[str, str] | None = None, workers: int = WORKERS,
              threads: int = THREADS_PER_WORKER):
    """The app as in production (`gunicorn wsgi:app`), on a free port, outbox dispatcher off."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    instance = tempfile.mkdtemp(prefix="mkassa-bench-gunicorn-")
    env = dict(os.environ, DATABASE_URL=_sqlalchemy_url(url), WEBHOOK_SECRET=SECRET, SECRET_KEY="bench-" + "y" * 40,
               MKASSA_INSTANCE_PATH=instance, BANK_MODE="sandbox", OUTBOX_INPROCESS="0", LOG_LEVEL="WARNING",
               **(extra_env or {}))
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads",
                                str(threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                                app], cwd=ROOT, env=env)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(instance, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen) -> None:
    """Until gunicorn answers HTTP at all (the app's /healthz; the floor answers it with a 404)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 404):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _tills(shops: int, cashiers: int) -> list:
    """`shops` merchants with one point each and `cashiers` cashiers among them, as onboarding leaves them."""
    from mkassa.extensions import db
    from mkassa.models import Merchant, Point, User
    from mkassa.services import ledger
    tills = []
    for n in range(shops):
        merchant = Merchant(legal_name=f"Bench shop {n}", display_name=f"Bench {n}", inn=f"2{n:013d}", mcc="5411",
                            account_number=f"10301{n:011d}", bank_name="Bench Bank", bank_bic="103001",
                            account_opened_on=date(2024, 1, 1))
        db.session.add(merchant)
        db.session.flush()
        point = Point(merchant_id=merchant.id, name=f"Till row {n}", address="Bishkek", latitude=42.87,
                      longitude=74.6)
        db.session.add(point)
        db.session.flush()
        ledger.open_merchant_accounts(merchant.id)
        for c in range(n, cashiers, shops):
            tills.append(User(merchant_id=merchant.id, role="cashier", login=f"bench-{n}-{c}", password_hash="",
                              name=f"Cashier {c}", phone=f"+99670{c:07d}", point_id=point.id))
    db.session.add_all(tills)
    db.session.flush()
    return tills


def _contention(url: str, deliveries: list[tuple[str, str]]) -> None:
    """WRITERS concurrent webhooks for the payments of WRITERS cashiers, while pg_stat_activity is
    sampled: how many of the writers' sessions were busy, and how many of them waited on a row lock
    (and on which table's row), on average."""
    import psycopg
    rounds, busy, waiting, tables = 0, 0, 0, {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal rounds, busy, waiting
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                rounds += 1
                for (what,) in conn.execute(_LOCK_WAITS).fetchall():
                    busy += 1
                    if what is not None:
                        waiting += 1
                        tables[what] = tables.get(what, 0) + 1
                stop.wait(0.02)

    threads = -(-WRITERS // WRITER_WORKERS)
    with _gunicorn(url, workers=WRITER_WORKERS, threads=threads) as base:
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            rate, answers = _post_all(base, deliveries, clients=WRITERS)
        finally:
            stop.set()
            sampler.join()
    rounds = max(rounds, 1)
    share = ", ".join(f"{name} {n / rounds:.1f}" for name, n in sorted(tables.items(), key=lambda t: -t[1]))
    print(f"contention  {len(deliveries)} webhooks of {WRITERS} cashiers in {WRITER_SHOPS} shops, {WRITERS} writers "
          f"→ {WRITER_WORKERS}×{threads} gunicorn: "
          f"{rate:8.0f} webhooks/s   answers {_tally(answers)}")
    print(f"contention  sessions busy on average: {busy / rounds:.1f}, of them waiting on a row lock: "
          f"{waiting / rounds:.1f}" + (f" ({share})" if share else "") + f"; {rounds} samples")


# A busy backend of the bench's database and, when it waits on a lock, the table its statement writes.
_LOCK_WAITS = r"""
SELECT CASE WHEN a.wait_event_type = 'Lock' THEN
         coalesce(substring(a.query from '^\s*(?:INSERT INTO|UPDATE|DELETE FROM|SELECT .* FROM) (\w+)'),
                  a.wait_event) END
  FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active'
"""


def _floor(url: str, script: str, deliveries: list[tuple[str, str]]) -> float:
    """The same deliveries to bench/floor_app.py (the captured SQL, no app): webhooks per second."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="mkassa-floor-", delete=False) as f:
        f.write(script)
    try:
        with _gunicorn(url, "bench.floor_app:app", {"FLOOR_DATABASE_URL": url, "FLOOR_SCRIPT": f.name,
                                                    "FLOOR_ROWS": str(PGBENCH_ROWS),
                                                    "FLOOR_BASE_ID": str(PGBENCH_BASE_ID)}) as base:
            rate, answers = _post_all(base, deliveries)
    finally:
        os.unlink(f.name)
    if any(status != 200 for status, _ in answers):
        raise RuntimeError(f"the floor app failed: {_tally(answers)}")
    return rate


def _vacuum(url: str) -> None:
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# ------------------------------------------------------------------------------------ pgbench


def _prepare_pgbench_rows(template_id: int) -> None:
    """PGBENCH_ROWS pending payments copied from one of ours: ids BASE + n, public ids 'PGB' + n
    (and receipt tokens 'PGBR' + n: unique like the public id)."""
    from mkassa.extensions import db
    from mkassa.models import Payment
    columns = [c.name for c in Payment.__table__.columns if c.name not in ("id", "public_id", "receipt_token")]
    listed = ", ".join(columns)
    db.session.execute(db.text(
        f"INSERT INTO payment (id, public_id, receipt_token, {listed}) "
        f"SELECT {PGBENCH_BASE_ID} + g, 'PGB' || lpad(g::text, 23, '0'), 'PGBR' || lpad(g::text, 28, '0'), {listed} "
        f"FROM payment, generate_series(1, :rows) AS g WHERE payment.id = :template"),
        {"rows": PGBENCH_ROWS, "template": template_id})
    db.session.commit()


def _capture_script(app, cashier) -> str | None:
    """Ingest one webhook through the app while recording its SQL; return it as a pgbench script."""
    from sqlalchemy import event, text

    from mkassa.extensions import db
    from mkassa.services import accept
    for table, next_id in (("payment", CAPTURE_PAYMENT_ID), ("bank_webhook_event", CAPTURE_EVENT_ID),
                           ("ledger_transfer", CAPTURE_TRANSFER_ID)):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :v, false)"),
                           {"v": next_id})
    db.session.commit()
    payment = accept.create_qr_payment(cashier, "123,45", app.extensions["mkassa.settings"])
    db.session.commit()
    webhook_id, body = _event(payment.public_id, payment.amount, payment.merchant.account_number)
    bank_txn_id = json.loads(body)["data"]["bank_txn_id"]
    public_id = payment.public_id
    if payment.id != CAPTURE_PAYMENT_ID:
        print("pgbench: the captured payment did not get its marker id; pgbench skipped")
        return None
    db.session.remove()

    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        answer = app.test_client().post("/bank/webhooks", data=body, headers=_signed(webhook_id, body))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    if answer.status_code != 200 or answer.json.get("outcome") != "processed":
        print(f"pgbench: the captured ingest answered {answer.status_code} {answer.json}; pgbench skipped")
        return None
    try:
        body_sql = _to_pgbench(statements, webhook_id, public_id, bank_txn_id)
    except ValueError as exc:
        print(f"pgbench: cannot turn the captured SQL into a script ({exc}); pgbench skipped")
        return None
    return (f"\\set n random(1, {PGBENCH_ROWS})\n"
            f"\\set pid {PGBENCH_BASE_ID} + :n\n"
            "\\set k random(1, 4611686018427387903)\n"
            f"BEGIN;\n{body_sql}COMMIT;\n")


# pgbench expressions for the values that differ from one webhook to the next. `n` picks a prepared
# payment (random, so one may be paid twice: SQL allows it); `k` makes the ids that must be unique.
_WEBHOOK_ID = "('msg_' || lpad(CAST(:k AS text), 32, '0'))"
_PUBLIC_ID = "('PGB' || lpad(CAST(:n AS text), 23, '0'))"
_BANK_TXN_ID = "('sbx-' || lpad(CAST(:k AS text), 32, '0'))"
_UNIQUE_26 = "lpad(CAST(:k AS text), 26, '0')"  # stands for the public id inside unique codes and the body
_IDS = {CAPTURE_PAYMENT_ID: ":pid", CAPTURE_EVENT_ID: ":bank_webhook_event_id",
        CAPTURE_TRANSFER_ID: ":ledger_transfer_id"}
_RETURNS_ID = {"bank_webhook_event": "bank_webhook_event_", "ledger_transfer": "ledger_transfer_"}


def _to_pgbench(statements: list[tuple[str, object]], webhook_id: str, public_id: str, bank_txn_id: str) -> str:
    exact = {webhook_id: _WEBHOOK_ID, public_id: _PUBLIC_ID, bank_txn_id: _BANK_TXN_ID}

    def value(v) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return _IDS.get(v, str(v))
        if isinstance(v, (Decimal, float)):
            return repr(float(v)) if isinstance(v, float) else str(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return f"'\\x{bytes(v).hex()}'::bytea"
        if isinstance(v, (datetime, date, time_of_day)):
            # Typed literals: in a VALUES list of several rows PostgreSQL cannot infer a bare string's
            # type from the column, and a date or timestamp compared with another column needs it.
            kind = {datetime: "timestamptz" if getattr(v, "tzinfo", None) else "timestamp", date: "date",
                    time_of_day: "time"}[type(v)]
            return f"{_literal(v.isoformat())}::{kind}"
        if isinstance(v, uuid.UUID):
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"parameter of type {type(v).__name__}")
        if v in exact:
            return exact[v]
        expr = _literal(v)
        for old, new in ((webhook_id, _WEBHOOK_ID), (public_id, _UNIQUE_26), (bank_txn_id, _BANK_TXN_ID)):
            if old in v:
                expr = f"replace({expr}, {_literal(old)}, {new})"
        return expr

    def one(statement: str, params: dict) -> str:
        sql = re.sub(r"%%|%\((\w+)\)s", lambda m: "%" if m.group(1) is None else value(params[m.group(1)]),
                     statement)
        inserted = re.match(r"\s*INSERT INTO (\w+)", sql)
        returning = re.search(r"RETURNING (\w+\.)?id\b", sql)  # `\gset` names the columns table_column
        if inserted and returning and inserted.group(1) in _RETURNS_ID:
            return f"{sql} \\gset {_RETURNS_ID[inserted.group(1)]}\n"
        return f"{sql};\n"

    lines = []
    for statement, params in statements:
        if isinstance(params, dict):
            lines.append(one(statement, params))
        elif isinstance(params, (list, tuple)) and params and all(isinstance(p, dict) for p in params):
            # An executemany (the ledger's balance moves): psycopg sends its rows in one pipeline, so
            # pgbench does too (its pipeline needs -M extended or prepared, which it runs with).
            lines += ["\\startpipeline\n", *(one(statement, p) for p in params), "\\endpipeline\n"]
        else:
            raise ValueError(f"parameters of type {type(params).__name__}")
    return "".join(lines)


def _literal(text: str) -> str:
    """An E'' string literal without a colon (pgbench would read `:name` inside it as a variable)."""
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a")
    return f"E'{escaped}'"


def _pgbench(url: str, script: str | None) -> float | None:
    if script is None:
        return None
    try:
        subprocess.run(["pgbench", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        print("pgbench is missing (make bench installs it as root: apt-get install postgresql-contrib): skipped")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="mkassa-ingest-", delete=False) as f:
        f.write(script)
    try:
        run = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", str(min(CLIENTS, 2)),
                              "-T", str(PGBENCH_SECONDS), "-f", f.name, url], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
    if run.returncode != 0 or found is None:
        print(f"pgbench failed ({run.returncode}): {(run.stderr or run.stdout).strip()[-600:]}")
        return None
    statements = script.count(";\n") + script.count("\\gset")
    print(f"pgbench     script: {statements} statements including BEGIN and COMMIT; "
          f"failed transactions: {failed.group(1) if failed else '0'}")
    return float(found.group(1))
