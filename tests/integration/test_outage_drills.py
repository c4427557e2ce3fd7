"""Outage drills (issue #13): a Bank system down must never stop sign-in codes, credentials or reports.

The app runs with production adapters pointed at local servers that refuse, answer 500, or hang.
"""
from __future__ import annotations

import json
import signal
import threading
import time
import urllib.parse
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from flask_mail import Message
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.gateways import corebank, sms
from mkassa.models import JobState, OutboxMessage, Payment, utcnow
from mkassa.services import accept, jobs, mailer, outbox, recovery

from .test_worker_outage import SmsGateway, closed_port, production_env, start_worker, wait_for


class CoreBank:
    """A local core banking API whose behaviour a test switches: "ok", "500" or "hang"."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.paid: dict[str, dict] = {}
        self.asked = 0
        self.refund_keys: list[str] = []  # the Idempotency-Key of each refund request it took
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                bank.asked += 1
                if bank.mode == "hang":
                    time.sleep(corebank.HTTP_TIMEOUT_SECONDS + 1)
                if bank.mode != "ok":
                    self.send_response(500)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                body = json.dumps({"payment": bank.paid.get(query["transaction_id"][0])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if bank.mode != "ok" or self.path != "/refunds":
                    self.send_response(500)
                    self.end_headers()
                    return
                bank.refund_keys.append(self.headers["Idempotency-Key"])
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = SmsGateway()
    yield server
    server.close()


@pytest.fixture
def core():
    server = CoreBank()
    yield server
    server.close()


def production_adapters(app, monkeypatch, **urls):
    """The running app switched to its production adapters (the checks of a full production start
    are covered by test_worker_outage.py and the config tests)."""
    settings = replace(app.extensions["mkassa.settings"], bank_mode="production", sms_gateway_token="sms-token",
                       corebank_token="bank-token", **urls)
    monkeypatch.setitem(app.extensions, "mkassa.settings", settings)


@mailer.composer("drill_note")
def _drill_note(payload):
    return Message("Shift closed", recipients=[payload["to"]], body="report", sender="MKASSA <r@bank.example>")


def beat() -> None:
    """One beat of a worker: the due jobs, then delivery (in production they run in two threads)."""
    jobs.run_due("drill-worker")
    outbox.dispatch_due()


@pytest.mark.parametrize("outage", ["refused", "500", pytest.param("hang", marks=pytest.mark.slow)])
def test_core_bank_down_for_long_codes_credentials_and_reports_still_go_out(
        app, demo, gateway, core, monkeypatch, outage):
    monkeypatch.setattr(corebank, "HTTP_TIMEOUT_SECONDS", 0.5)
    url = f"http://127.0.0.1:{closed_port()}" if outage == "refused" else core.url
    core.mode = {"refused": "ok", "500": "500", "hang": "hang"}[outage]
    production_adapters(app, monkeypatch, corebank_url=url, sms_gateway_url=gateway.url)
    start = utcnow()
    payment = accept.create_qr_payment(demo.cashier, "10", app.extensions["mkassa.settings"],
                                       now=start - timedelta(minutes=5))
    payment_id, public_id = payment.id, payment.public_id
    db.session.commit()
    stretch = 30  # beats, a minute of frozen time apart: half an hour without the core bank
    with time_machine.travel(start, tick=False) as clock:
        for n in range(stretch):
            clock.shift(timedelta(minutes=1))
            if n == stretch // 2:
                recovery.send_code(demo.owner)                                   # a one-time code
                sms.queue_sms("+996700111222", "MKASSA: login cashier, password x") # credentials
                mailer.queue("drill_note", {"to": "owner@example.com"})          # a shift report
                db.session.commit()
                sent = len(gateway.received)
                beat()
                assert len(gateway.received) == sent + 2  # within this very beat
                assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                         .where(OutboxMessage.status != "sent")) == 0
                db.session.commit()
            else:
                beat()
        failing = db.session.get(JobState, "reconcile_payments")
        assert failing.failures == stretch and failing.last_success_at is None
        assert db.session.get(Payment, payment_id).status == "pending"  # nothing decided without the Bank
        db.session.commit()

        # The Bank is back (and says the customer paid): reconciliation resumes at the next interval.
        production_adapters(app, monkeypatch, corebank_url=core.url, sms_gateway_url=gateway.url)
        core.mode = "ok"
        core.paid[public_id] = {"status": "succeeded", "bank_txn_id": "core-1", "amount": 1000,
                                "currency": "417", "paid_at": utcnow().isoformat()}
        clock.shift(timedelta(seconds=accept.RECONCILE_EVERY_SECONDS))
        beat()
    assert db.session.get(Payment, payment_id).status == "succeeded"
    recovered = db.session.get(JobState, "reconcile_payments", populate_existing=True)
    assert recovered.failures == 0 and recovered.failures_total == stretch
    assert len(gateway.received) == 2  # one SMS per message, none again


def test_core_bank_down_a_confirmed_refund_keeps_its_money_reserved_and_is_asked_for_once_when_back(
        app, demo, gateway, core, monkeypatch):
    """A refund confirmed while the core bank answers 500 for 20 minutes: its request waits in the
    outbox and is retried; the money stays reserved (never refunded twice, never given back early);
    SMS keep going out meanwhile; once the Bank is back it is asked exactly once."""
    from types import SimpleNamespace

    from mkassa.models.ledger import REFUND_PENDING
    from mkassa.services import ledger, otp, payments, refunds
    monkeypatch.setattr(otp, "secrets", SimpleNamespace(randbelow=lambda _n: 1234))
    start = utcnow()
    payment = Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id, cashier_id=demo.cashier.id,
                      method="qr", amount=50_000, status="succeeded", created_at=start, paid_at=start,
                      bank_txn_id="drill-refund-1")
    db.session.add(payment)
    db.session.flush()
    payments.credit(payment, at=start)
    payments.settle(payment, at=start)
    refund = refunds.request_refund(demo.owner, payment, "200")
    refunds.confirm(demo.owner, refund, "1234")
    refund_id = refund.public_id
    db.session.commit()
    reserved = ledger.balances(demo.merchant.id).get(REFUND_PENDING, 0)
    assert reserved == 20_000

    core.mode = "500"
    production_adapters(app, monkeypatch, corebank_url=core.url, sms_gateway_url=gateway.url)
    with time_machine.travel(start, tick=False) as clock:
        for n in range(20):  # a beat a minute: twenty minutes without the core bank
            clock.shift(timedelta(minutes=1))
            if n == 10:
                sms.queue_sms("+996700111222", "MKASSA: login cashier, password x")
                db.session.commit()
                sent = len(gateway.received)
                beat()
                assert len(gateway.received) >= sent + 1  # the SMS is not held up by the refund
            else:
                beat()
            db.session.commit()
        request = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "refund.request"))
        assert request.status != "sent" and request.attempts >= 5
        assert db.session.get(type(refund), refund.id).status == "confirmed"
        assert ledger.balances(demo.merchant.id).get(REFUND_PENDING, 0) == reserved  # still reserved, once
        assert core.refund_keys == []

        core.mode = "ok"  # the Bank is back: the next retry asks it, once
        for _ in range(20):
            clock.shift(timedelta(minutes=1))
            beat()
            db.session.commit()
    assert core.refund_keys == [f"mkassa-refund-{refund_id}"]
    assert db.session.scalar(select(type(refund).status).where(type(refund).public_id == refund_id)) == "pending"
    assert ledger.balances(demo.merchant.id).get(REFUND_PENDING, 0) == reserved
    assert ledger.total_sum() == 0


def test_sms_gateway_failing_then_recovering_sends_one_sms_per_message(app, gateway, monkeypatch):
    production_adapters(app, monkeypatch, sms_gateway_url=gateway.url, corebank_url="http://127.0.0.1:1")
    gateway.status = 500
    for n in range(3):
        sms.queue_sms("+996555000111", f"code {n}")
    db.session.commit()
    with time_machine.travel(utcnow(), tick=False) as clock:
        for attempt in range(1, 4):
            assert outbox.dispatch_due() == 0
            clock.shift(timedelta(seconds=outbox.backoff_seconds(attempt)))
        gateway.status = 200
        assert outbox.dispatch_due() == 3
        clock.shift(timedelta(hours=1))
        assert outbox.dispatch_due() == 0
    accepted = [body["text"] for _at, _headers, body in gateway.received[-3:]]
    assert sorted(accepted) == ["code 0", "code 1", "code 2"]
    keys = [headers["Idempotency-Key"] for _at, headers, _body in gateway.received]
    assert len(set(keys)) == 3 and len(keys) == 12  # every retry of a message carries its own same key


def test_check_status_while_the_bank_is_down_says_so_and_changes_nothing(client, auth, demo, monkeypatch):
    production_adapters(client.application, monkeypatch, corebank_url=f"http://127.0.0.1:{closed_port()}",
                        sms_gateway_url="http://127.0.0.1:1")
    payment = accept.create_qr_payment(demo.cashier, "10", client.application.extensions["mkassa.settings"])
    db.session.commit()
    auth.login("cashier")
    csrf = auth.csrf(f"/pay/{payment.public_id}")
    response = client.post(f"/pay/{payment.public_id}/check", data={"csrf_token": csrf})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The bank did not answer" in page
    assert db.session.get(Payment, payment.id, populate_existing=True).status == "pending"


# ----------------------------------------------------------------------- real worker processes


@pytest.fixture
def worker_env(request, database_url, tmp_path, gateway):
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("a production worker process needs PostgreSQL (--db=postgresql)")
    return production_env(database_url, tmp_path / "worker", gateway.url, f"http://127.0.0.1:{closed_port()}")


class HangingGateway(SmsGateway):
    """Takes `delay` seconds over each request; remembers the keys it accepted (dropping repeats)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.arrived = threading.Event()
        outer = self
        handler = self.server.RequestHandlerClass
        original = handler.do_POST

        def do_POST(self):
            outer.arrived.set()
            time.sleep(outer.delay)
            original(self)
        handler.do_POST = do_POST


@pytest.mark.slow  # worker processes, a hanging gateway or cut connections
def test_a_worker_killed_mid_delivery_leaves_the_sms_to_be_sent_once_after_the_claim(
        app, worker_env, tmp_path, monkeypatch):
    slow = HangingGateway(delay=30)
    env = dict(worker_env, SMS_GATEWAY_URL=slow.url)
    sms.queue_sms("+996555000111", "code 4242")
    db.session.commit()
    worker = start_worker(env, tmp_path / "killed.log")
    try:
        assert slow.arrived.wait(20), (tmp_path / "killed.log").read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        slow.close()
    msg = db.session.scalar(select(OutboxMessage))
    assert msg.status == "pending" and msg.attempts == 1 and msg.locked_until is not None
    db.session.commit()

    gateway = SmsGateway()
    try:
        production_adapters(app, monkeypatch, sms_gateway_url=gateway.url, corebank_url="http://127.0.0.1:1")
        assert outbox.dispatch_due() == 0  # claimed by the dead worker until the claim expires
        assert outbox.dispatch_due(now=utcnow() + timedelta(seconds=outbox.CLAIM_SECONDS)) == 1
    finally:
        gateway.close()
    [(_at, headers, body)] = gateway.received
    assert headers["Idempotency-Key"] == f"mkassa-sms-{msg.id}"  # the key the killed worker sent: the gateway drops a repeat
    assert body["text"] == "code 4242"


@pytest.mark.slow  # worker processes, a hanging gateway or cut connections
def test_sigterm_finishes_the_message_in_hand_and_starts_no_other(app, worker_env, tmp_path):
    slow = HangingGateway(delay=2)
    env = dict(worker_env, SMS_GATEWAY_URL=slow.url)
    sms.queue_sms("+996555000111", "first")
    sms.queue_sms("+996555000111", "second")
    db.session.commit()
    worker = start_worker(env, tmp_path / "term.log")
    try:
        assert slow.arrived.wait(20), (tmp_path / "term.log").read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0, (tmp_path / "term.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
        slow.close()
    statuses = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.status).order_by(OutboxMessage.id)).all())
    assert list(statuses.values()) == ["sent", "pending"]
    assert [body["text"] for _at, _h, body in slow.received] == ["first"]


@pytest.mark.slow  # worker processes, a hanging gateway or cut connections
def test_two_worker_processes_deliver_each_sms_once_and_run_each_job_once(app, worker_env, gateway, tmp_path):
    for n in range(20):
        sms.queue_sms("+996555000111", f"m{n}")
    db.session.commit()
    workers = [start_worker(worker_env, tmp_path / f"w{n}.log") for n in range(2)]
    try:
        assert wait_for(lambda: len(gateway.received) >= 20, 30)
        time.sleep(2)
        runs = db.session.scalar(select(JobState.runs_total).where(JobState.name == "purge_sessions"))
        db.session.commit()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(20) for worker in workers]
    assert codes == [0, 0]
    assert sorted(body["text"] for _at, _h, body in gateway.received) == sorted(f"m{n}" for n in range(20))
    assert runs == 1  # an hourly job: one of the two workers ran it, once


def test_a_silent_smtp_server_fails_the_attempt_in_time_and_the_mail_is_kept(app, make_app, monkeypatch):
    """An SMTP server that accepts the connection and never speaks must not hold the worker."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setattr(mailer, "SMTP_TIMEOUT_SECONDS", 0.5)
    app = make_app(mail_server="127.0.0.1", mail_port=listener.getsockname()[1])
    try:
        with app.app_context():
            mailer.queue("drill_note", {"to": "owner@example.com"})
            db.session.commit()
            started = time.monotonic()
            assert outbox.dispatch_due() == 0
            assert time.monotonic() - started < 5
            msg = db.session.scalar(select(OutboxMessage))
            assert msg.status == "pending" and "timed out" in msg.last_error
            db.session.remove()
    finally:
        listener.close()


def test_the_suite_instrument_fails_a_gateway_call_made_inside_a_transaction(app, _no_gateway_call_in_a_transaction):
    from ..conftest import TransactionOpenDuringGatewayCall
    db.session.execute(select(1))  # a transaction is now open
    with pytest.raises(TransactionOpenDuringGatewayCall):
        corebank.find_payment("01JNOSUCHPAYMENT0000000000")
    _no_gateway_call_in_a_transaction.clear()  # seen: this test's own violation is expected
    db.session.commit()
    assert corebank.find_payment("01JNOSUCHPAYMENT0000000000") is None


# ------------------------------------------------------------------------ the database dropping out

# Payments whose webhooks stream in while the database drops every connection, and how long the
# Bank keeps redelivering one message before the drill gives up (its request loops are bounded).
DROPOUT_PAYMENTS = 24
BANK_ATTEMPTS = 100
BANK_RETRY_SECONDS = 0.1
# The database "restarts" every CUT_EVERY_SECONDS (all connections cut) for CUT_FOR_SECONDS in all.
CUT_EVERY_SECONDS = 0.2
CUT_FOR_SECONDS = 6


@pytest.mark.slow  # worker processes, a hanging gateway or cut connections
def test_webhooks_streaming_in_while_postgresql_drops_every_connection_credit_each_payment_once(
        app, _app, demo, database_url):
    """PostgreSQL restarting, as the app sees it: every connection of the app's database is cut
    (pg_terminate_backend, repeatedly) while the Bank posts signed payment.succeeded webhooks over
    real HTTP and redelivers each message, same webhook-id, until it gets a 2xx — and once more
    after that, as banks do. Afterwards: every payment credited exactly once, the ledger balanced."""
    import urllib.error
    import urllib.request

    import psycopg
    from sqlalchemy import make_url

    from mkassa.models import LedgerTransfer
    from mkassa.services import ledger

    from ..conftest import LiveServer
    from .test_pay_qr import new_payment, signed, succeeded

    if db.engine.dialect.name != "postgresql":
        pytest.skip("the drill cuts PostgreSQL connections: needs --db=postgresql")
    payments = [new_payment(demo.cashier, f"{n + 1},00") for n in range(DROPOUT_PAYMENTS)]
    messages = [(json.dumps(succeeded(p)), f"msg_drill_{n}") for n, p in enumerate(payments)]
    expected = sum(p.amount for p in payments)
    ids, merchant_id = [p.id for p in payments], demo.merchant.id
    before = ledger.balances(merchant_id)["processing"]
    db.session.commit()
    db.session.close()  # the test's own connection goes back to the pool before the cuts

    url = make_url(database_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    database = url.database
    stop, cuts, outcomes = threading.Event(), [], {}

    def cut_connections() -> None:
        until = time.monotonic() + CUT_FOR_SECONDS
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            while not stop.is_set() and time.monotonic() < until:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]
                cuts.append(killed)
                time.sleep(CUT_EVERY_SECONDS)

    def bank(server_url: str, body: str, webhook_id: str) -> None:
        codes = []
        for _attempt in range(BANK_ATTEMPTS):
            request = urllib.request.Request(f"{server_url}/bank/webhooks", data=body.encode(),
                                             headers=signed(body, webhook_id), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    codes.append(response.status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
            except OSError:
                codes.append(0)
            if 200 <= codes[-1] < 300 and len([c for c in codes if 200 <= c < 300]) == 2:
                break  # delivered, then redelivered once more: both answered 2xx
            time.sleep(BANK_RETRY_SECONDS)
        outcomes[webhook_id] = codes

    with LiveServer(_app) as server:
        cutter = threading.Thread(target=cut_connections, daemon=True)
        cutter.start()
        senders = [threading.Thread(target=bank, args=(server.url, body, webhook_id)) for body, webhook_id in messages]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
        stop.set()
        cutter.join(10)

    assert sum(cuts) > 0, "the drill cut no connection: it proved nothing"
    assert len(outcomes) == DROPOUT_PAYMENTS
    assert any(c != 200 for codes in outcomes.values() for c in codes), "no delivery failed: nothing was drilled"
    for webhook_id, codes in outcomes.items():
        assert [c for c in codes if 200 <= c < 300] == [200, 200], (webhook_id, codes)
    db.engine.dispose()  # connections cut under the pool are not reused
    assert set(db.session.scalars(select(Payment.status).where(Payment.id.in_(ids)))) == {"succeeded"}
    assert ledger.balances(merchant_id)["processing"] - before == expected  # 0 lost, 0 doubled
    credits = db.session.scalar(select(func.count(LedgerTransfer.id)).where(LedgerTransfer.payment_id.in_(ids)))
    assert credits == DROPOUT_PAYMENTS
    assert ledger.total_sum() == 0
