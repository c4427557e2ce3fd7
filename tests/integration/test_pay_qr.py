"""Accepting a payment by QR: the screen, the Bank's webhooks, live status, reconciliation, settlement."""
from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
import time_machine
from sqlalchemy import func, select
from standardwebhooks import Webhook

from mkassa import elqr
from mkassa.extensions import db
from mkassa.gateways.sandbox import bank as sandbox_bank
from mkassa.models import BankWebhookEvent, LedgerTransfer, Merchant, Payment, SandboxBankPayment, User, utcnow
from mkassa.services import accept, jobs, ledger
from mkassa.services.auth import hash_password
from mkassa.formatting import money

from ..conftest import TEST_WEBHOOK_SECRET

KNOWN_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KNOWN_TS = 1614265330
KNOWN_BODY = '{"test": 2432232314}'
KNOWN_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def signed(body: str, webhook_id: str | None = None, ts: int | None = None, secret=TEST_WEBHOOK_SECRET) -> dict:
    webhook_id = webhook_id or sandbox_bank.new_webhook_id()  # never a run of digits that could pass for a PAN
    ts = int(utcnow().timestamp()) if ts is None else ts
    sig = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(ts, timezone.utc), body)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": sig,
            "Content-Type": "application/json"}


def post_event(client, event: dict, webhook_id: str | None = None):
    body = json.dumps(event)
    return client.post("/bank/webhooks", data=body, headers=signed(body, webhook_id))


def succeeded(payment: Payment, **changes) -> dict:
    data = {"bank_txn_id": f"txn-{uuid.uuid4().hex[:12]}", "link_type": "dynamic",
            "transaction_id": payment.public_id, "recipient_id": payment.merchant.account_number,
            "amount": payment.amount, "currency": "417", "payer": {"bank": "MBANK", "name_masked": "А***р К."},
            "paid_at": utcnow().isoformat()}
    data.update(changes)
    return {"type": "payment.succeeded", "data": data}


def new_payment(user: User, amount: str = "123,45") -> Payment:
    from flask import current_app
    payment = accept.create_qr_payment(user, amount, current_app.extensions["mkassa.settings"])
    db.session.commit()
    return payment


def processing(merchant_id: int) -> int:
    db.session.commit()  # end the test's read transaction: see what other threads committed
    return ledger.balances(merchant_id)["processing"]


def received(merchant_id: int) -> int:
    """In processing plus available: what the merchant has been credited (settlement moves it)."""
    db.session.commit()
    balances = ledger.balances(merchant_id)
    return balances["processing"] + balances["available"]


def reload(payment: Payment) -> Payment:
    db.session.commit()
    return db.session.get(Payment, payment.id)


def events(outcome: str | None = None) -> list[BankWebhookEvent]:
    stmt = select(BankWebhookEvent)
    if outcome:
        stmt = stmt.where(BankWebhookEvent.outcome == outcome)
    return list(db.session.scalars(stmt))


# ------------------------------------------------------------------------------------ signatures


def test_known_answer_vector():
    ts = datetime.fromtimestamp(KNOWN_TS, timezone.utc)
    assert Webhook(TEST_WEBHOOK_SECRET).sign(KNOWN_ID, ts, KNOWN_BODY) == KNOWN_SIG


def test_known_vector_passes_the_endpoint_signature_check(client):
    headers = {"webhook-id": KNOWN_ID, "webhook-timestamp": str(KNOWN_TS), "webhook-signature": KNOWN_SIG}
    with time_machine.travel(datetime.fromtimestamp(KNOWN_TS, timezone.utc), tick=False):
        response = client.post("/bank/webhooks", data=KNOWN_BODY, headers=headers)
        tampered = client.post("/bank/webhooks", data=KNOWN_BODY.replace("4", "5"), headers=headers)
    # Signed right but not an event: refused as a mismatch and kept for operators.
    assert response.status_code == 422
    assert [e.webhook_id for e in events("mismatch")] == [KNOWN_ID]
    assert tampered.status_code == 401


def test_bad_signature_is_401_and_not_recorded(client, demo):
    payment = new_payment(demo.cashier)
    body = json.dumps(succeeded(payment))
    headers = signed(body, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    assert client.post("/bank/webhooks", data=body, headers=headers).status_code == 401
    assert client.post("/bank/webhooks", data=body, headers={"webhook-id": "x"}).status_code == 401
    assert events() == []
    assert reload(payment).status == "pending"
    assert processing(demo.merchant.id) == ledger.balances(demo.merchant.id)["processing"]


@pytest.mark.parametrize("offset, accepted", [(300, True), (301, False), (-300, True), (-301, False)])
def test_timestamp_window_boundary(client, demo, offset, accepted):
    payment = new_payment(demo.cashier)
    before = processing(demo.merchant.id)
    sent = int(utcnow().timestamp())
    body = json.dumps(succeeded(payment))
    with time_machine.travel(datetime.fromtimestamp(sent + offset, timezone.utc), tick=False):
        response = client.post("/bank/webhooks", data=body, headers=signed(body, ts=sent))
    assert response.status_code == (200 if accepted else 401)
    assert processing(demo.merchant.id) == before + (payment.amount if accepted else 0)


# ---------------------------------------------------------------------------------- crediting


def test_success_credits_once_and_replays_change_nothing(client, demo):
    payment = new_payment(demo.cashier)
    before = processing(demo.merchant.id)
    event = succeeded(payment)
    first = post_event(client, event, webhook_id="msg_first")
    assert first.status_code == 200 and first.json["outcome"] == "processed"
    paid = reload(payment)
    assert (paid.status, paid.flagged, paid.payer_bank) == ("succeeded", False, "MBANK")
    assert processing(demo.merchant.id) == before + payment.amount
    # The same event again, and the same bank transaction under a new webhook id.
    assert post_event(client, event, webhook_id="msg_first").json["outcome"] == "duplicate"
    assert post_event(client, event).json["outcome"] == "duplicate"
    assert processing(demo.merchant.id) == before + payment.amount
    assert ledger.total_sum() == 0
    assert db.session.scalar(select(BankWebhookEvent.attempts).where(BankWebhookEvent.webhook_id == "msg_first")) == 2


def test_a_webhook_s_statements_are_compiled_once_per_process(client, demo):
    """Issue #19: the ingest's SQL comes from SQLAlchemy's compiled cache after the first webhook (the
    dialects' ON CONFLICT inserts were compiled afresh each time); the event's record is still complete."""
    from sqlalchemy import event as sa_event
    post_event(client, succeeded(new_payment(demo.cashier)))  # the first one fills the cache
    payment = new_payment(demo.cashier)
    misses: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if context.cache_hit != context.cache_hit.CACHE_HIT and not re.match(r"(SAVEPOINT|RELEASE|BEGIN)\b", statement):
            misses.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        answer = post_event(client, succeeded(payment), webhook_id="msg_cached")
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert answer.json["outcome"] == "processed"
    assert misses == []
    [recorded] = [e for e in events("processed") if e.webhook_id == "msg_cached"]
    assert (recorded.event_type, recorded.amount, recorded.payment_id, recorded.attempts, recorded.reason) == (
        "payment.succeeded", payment.amount, payment.id, 1, None)
    assert recorded.bank_txn_id.startswith("txn-") and recorded.received_at == recorded.updated_at


@pytest.mark.parametrize("change", [{"amount": 12346}, {"currency": "840"}, {"transaction_id": "01HUNKNOWN"},
                                    {"recipient_id": "999"}, {"amount": "12345"}, {"paid_at": "yesterday"}])
def test_mismatch_is_422_recorded_and_moves_no_money(client, demo, change):
    payment = new_payment(demo.cashier)
    before = processing(demo.merchant.id)
    response = post_event(client, succeeded(payment, **change))
    assert response.status_code == 422
    [event] = events("mismatch")
    assert event.reason and event.body
    assert reload(payment).status == "pending"
    assert processing(demo.merchant.id) == before


def test_second_bank_transaction_for_a_paid_dynamic_qr_is_a_mismatch(client, demo):
    payment = new_payment(demo.cashier)
    post_event(client, succeeded(payment))
    before = processing(demo.merchant.id)
    assert post_event(client, succeeded(payment)).status_code == 422
    assert processing(demo.merchant.id) == before


def test_console_shows_the_payer_charged_twice_for_a_paid_qr(client, auth, admin_user, demo):
    """The refused second payment keeps what finds the payer: event, bank transaction, amount, payment."""
    payment = new_payment(demo.cashier, "250,00")
    assert post_event(client, succeeded(payment, bank_txn_id="txn-first")).status_code == 200
    # A card number in the Bank's transaction reference is masked like any text from outside.
    second = succeeded(payment, bank_txn_id="txn-4111111111111111")
    assert post_event(client, second).status_code == 422
    [event] = events("mismatch")
    assert (event.event_type, event.amount, event.payment_id) == ("payment.succeeded", 25000, payment.id)
    assert "4111111111111111" not in event.bank_txn_id and event.bank_txn_id.startswith("txn-411111")

    client.set_cookie("lang", "en", domain="localhost")
    auth.login("operator", "operator-pass-1")
    html = client.get("/admin/webhooks").get_data(as_text=True)
    [row] = re.findall(r'<tr data-testid="webhook-row".*?</tr>', html, flags=re.S)
    cell = {name: re.search(rf'data-testid="webhook-{name}">(.*?)</td>', row, flags=re.S).group(1)
            for name in ("event", "txn", "amount", "payment")}
    assert cell["event"] == "payment.succeeded"
    assert cell["txn"] == event.bank_txn_id
    assert cell["amount"] == money(25000)
    assert payment.public_id in cell["payment"]
    assert f'href="/admin/payments?merchant={demo.merchant.public_id}"' in cell["payment"]
    assert "4111111111111111" not in html
    assert "paid by another bank transaction" in row


@pytest.mark.parametrize("give_up", ["cancel", "expire"])
def test_late_money_is_credited_and_flagged(client, auth, demo, give_up):
    payment = new_payment(demo.cashier)
    before = processing(demo.merchant.id)
    if give_up == "cancel":
        auth.login("cashier")
        csrf = auth.csrf(f"/pay/{payment.public_id}")
        assert client.post(f"/pay/{payment.public_id}/cancel", data={"csrf_token": csrf}).status_code == 303
    else:
        with time_machine.travel(payment.expires_at + timedelta(seconds=1), tick=False):
            accept.reconcile_overdue()
            db.session.commit()
    assert reload(payment).status == ("cancelled" if give_up == "cancel" else "expired")
    assert post_event(client, succeeded(payment)).status_code == 200
    paid = reload(payment)
    assert (paid.status, paid.flagged) == ("succeeded", True)
    assert processing(demo.merchant.id) == before + payment.amount


def test_static_link_payment_lands_on_its_point(client, demo):
    point = demo.points[1]
    event = {"type": "payment.succeeded", "data": {
        "bank_txn_id": "static-1", "link_type": "static", "transaction_id": point.reference,
        "recipient_id": demo.merchant.account_number, "amount": 5000, "currency": "417",
        "payer": {"bank": "O!Bank", "name_masked": "Б***т"}, "paid_at": utcnow().isoformat()}}
    before = processing(demo.merchant.id)
    assert post_event(client, event).status_code == 200
    assert post_event(client, event).json["outcome"] == "duplicate"
    [payment] = db.session.scalars(select(Payment).where(Payment.bank_txn_id == "static-1"))
    assert (payment.point_id, payment.merchant_id, payment.status, payment.link_type, payment.cashier_id) == (
        point.id, demo.merchant.id, "succeeded", "static", None)
    assert processing(demo.merchant.id) == before + 5000
    event["data"]["transaction_id"] = "no-such-point"
    event["data"]["bank_txn_id"] = "static-2"
    assert post_event(client, event).status_code == 422


def test_failure_then_stale_failure_after_success(client, demo):
    payment = new_payment(demo.cashier)
    failed = {"type": "payment.failed", "data": {"transaction_id": payment.public_id, "reason": "declined"}}
    assert post_event(client, failed).status_code == 200
    assert reload(payment).status == "failed"
    # The payer tried again and paid: money received is credited, flagged for staff.
    assert post_event(client, succeeded(payment)).status_code == 200
    assert (reload(payment).status, reload(payment).flagged) == ("succeeded", True)
    # A failure delivered after the success (out of order) is refused and changes nothing.
    assert post_event(client, failed).status_code == 422
    assert reload(payment).status == "succeeded"


@pytest.mark.parametrize("same_webhook_id", [True, False])
def test_concurrent_deliveries_credit_once(app, demo, same_webhook_id):
    payment = new_payment(demo.cashier)
    before = processing(demo.merchant.id)
    event = succeeded(payment)
    body = json.dumps(event)
    shared = signed(body)
    barrier, statuses = threading.Barrier(4), []

    def deliver():
        headers = shared if same_webhook_id else signed(body)
        with app.app_context():
            barrier.wait()
            statuses.append(app.test_client().post("/bank/webhooks", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 4
    assert processing(demo.merchant.id) == before + payment.amount
    assert ledger.total_sum() == 0


# ------------------------------------------------------------------------------ accept screen


@pytest.mark.parametrize("typed, tyiyn", [("123,45", 12345), ("123.45", 12345), ("1 234,5", 123450),
                                          ("0,01", 1), ("1000000", 100_000_000),
                                          ("1,234.50", 123450), ("1,234", 123400)])  # English as shown (#11)
def test_amount_accepted(client, auth, demo, typed, tyiyn):
    auth.login("cashier")
    response = client.post("/pay/", data={"amount": typed, "csrf_token": auth.csrf("/pay/")})
    assert response.status_code == 303
    payment = db.session.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    assert payment.amount == tyiyn and payment.status == "pending"


def test_the_amount_placeholder_is_written_in_each_request_s_language(client, auth, demo):
    """Not in the language the template was first rendered in (Jinja folded `0|money(false)`)."""
    auth.login("cashier")
    placeholders = []
    for lang in ("ru", "en", "ky", "en"):
        client.set_cookie("lang", lang, domain="localhost")
        client.post("/language", data={"lang": lang, "csrf_token": auth.csrf("/pay/")})
        html = client.get("/pay/").get_data(as_text=True)
        placeholders.append(re.search(r'data-testid="amount-input"[^>]*placeholder="([^"]+)"|placeholder="([^"]+)"[^>]*data-testid="amount-input"', html).group(0))
    assert ['0,00' in p for p in placeholders] == [True, False, True, False]
    assert ['0.00' in p for p in placeholders] == [False, True, False, True]


@pytest.mark.parametrize("typed, message", [
    ("", "Enter an amount"), ("0", "greater than zero"), ("-5", "greater than zero"),
    ("1.234", "at most two digits"), ("abc", "in digits"), ("1000000,01", "must not exceed"),
    ("1.2.3", "one decimal separator"), ("1.234,50", "for example 1,234.50")])
def test_amount_refused(client, auth, demo, typed, message):
    auth.login("cashier")
    count = db.session.scalar(select(func.count(Payment.id)))
    response = client.post("/pay/", data={"amount": typed, "csrf_token": auth.csrf("/pay/")},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="amount-error"' in html and message in html
    assert f'value="{typed}"' in html
    assert db.session.scalar(select(func.count(Payment.id))) == count


@pytest.mark.parametrize("locale", ["ru", "ky", "en"])
def test_the_amount_a_locale_shows_can_be_typed_back(client, auth, demo, locale):
    """#11: the en screens showed "1,234.50 som" and the amount field refused "1,234.50"."""
    auth.login("cashier")
    demo.cashier.locale = locale
    db.session.commit()
    with force_locale(locale):
        shown = money(123450)
    assert shown == {"en": "1,234.50\u00a0som"}.get(locale, "1\u00a0234,50\u00a0сом")
    response = client.post("/pay/", data={"amount": shown, "csrf_token": auth.csrf("/pay/")})
    assert response.status_code == 303
    assert db.session.scalar(select(Payment).order_by(Payment.id.desc()).limit(1)).amount == 123450


def test_ru_refuses_what_it_cannot_read_one_way(client, auth, demo):
    auth.login("cashier")
    demo.cashier.locale = "ru"
    db.session.commit()
    response = client.post("/pay/", data={"amount": "1,234", "csrf_token": auth.csrf("/pay/")})
    assert response.status_code == 422
    assert "например 1\u00a0234,50\u00a0сом" in response.get_data(as_text=True)


def test_qr_screen_shows_a_verifiable_dynamic_link(client, auth, demo):
    auth.login("demo")
    response = client.post("/pay/", data={"amount": "123,45", "csrf_token": auth.csrf("/pay/")})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r'data-testid="payment-link"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*data-testid="payment-link"',
                     html)
    href = (link.group(1) or link.group(2)).replace("&amp;", "&")
    parsed = elqr.parse(href)
    payment = db.session.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    assert elqr.checksum_ok(href)
    assert (parsed.type, parsed.amount, parsed.transaction_id, parsed.amount_editable, parsed.name) == (
        "dynamic", 12345, payment.public_id, False, "Demo Shop")
    assert 'data-testid="payment-qr"' in html and "<svg" in html
    assert 'data-status="pending"' in html


@pytest.mark.parametrize("login, point_index", [("cashier", 0), ("cashier2", 1), ("demo", 0)])
def test_payment_lands_on_the_users_point(client, auth, demo, login, point_index):
    auth.login(login)
    client.post("/pay/", data={"amount": "10", "csrf_token": auth.csrf("/pay/")})
    payment = db.session.scalar(select(Payment).order_by(Payment.id.desc()).limit(1))
    user = db.session.scalar(select(User).where(User.login == login))
    assert (payment.point_id, payment.cashier_id) == (demo.points[point_index].id, user.id)


def test_payment_ids_are_unguessable(demo):
    first, second = new_payment(demo.cashier), new_payment(demo.cashier)
    assert len(first.public_id) == 26 and first.public_id != second.public_id
    # ULIDs: 80 random bits after the timestamp, so a neighbour's id cannot be derived.
    assert first.public_id[10:] != second.public_id[10:]


def other_merchant_owner() -> User:
    from datetime import date
    merchant = Merchant(legal_name="Other", display_name="Other", inn="1" * 14, mcc="5411", account_number="42",
                        bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1))
    db.session.add(merchant)
    db.session.flush()
    owner = User(merchant_id=merchant.id, role="owner", login="other", password_hash=hash_password("demo1234"),
                 name="Other")
    db.session.add(owner)
    db.session.commit()
    return owner


@pytest.mark.parametrize("login", ["cashier2", "other"])
@pytest.mark.parametrize("path", ["", "/status", "/events"])
def test_status_endpoints_are_scoped(client, auth, demo, login, path):
    payment = new_payment(demo.cashier)
    other_merchant_owner()
    auth.login(login)
    assert client.get(f"/pay/{payment.public_id}{path}").status_code == 404
    assert client.get(f"/pay/{payment.id}{path}").status_code == 404


def test_owner_sees_his_cashiers_payment_and_cancel_is_scoped(client, auth, demo):
    payment = new_payment(demo.cashier)
    auth.login("cashier2")
    csrf = auth.csrf("/pay/")
    assert client.post(f"/pay/{payment.public_id}/cancel", data={"csrf_token": csrf}).status_code == 404
    assert reload(payment).status == "pending"
    auth.logout()
    auth.login("demo")
    assert client.get(f"/pay/{payment.public_id}/status").status_code == 200


# --------------------------------------------------------------------------------- live status


def test_status_poll_shows_only_what_the_server_confirmed(client, auth, demo):
    payment = new_payment(demo.cashier)
    auth.login("cashier")
    poll = client.get(f"/pay/{payment.public_id}/status?poll=1", headers={"HX-Request": "true"})
    html = poll.get_data(as_text=True)
    assert 'data-status="pending"' in html and 'hx-trigger="every 2s"' in html and "<html" not in html
    post_event(client, succeeded(payment))
    html = client.get(f"/pay/{payment.public_id}/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="succeeded"' in html and "MBANK" in html and payment.public_id in html
    assert "every 2s" not in html


def test_sse_stream_pushes_success_after_commit(app, auth, client, demo):
    payment = new_payment(demo.cashier)
    auth.login("cashier")
    stream = client.get(f"/pay/{payment.public_id}/events", buffered=False)
    assert stream.mimetype == "text/event-stream"
    chunks = iter(stream.response)
    assert next(chunks).startswith(b": open")
    post_event(app.test_client(), succeeded(payment))
    message = next(chunks).decode()
    assert message.startswith("data: ") and 'data-status="succeeded"' in message
    assert next(chunks).decode().startswith("event: done")
    stream.close()


def test_home_stream_inserts_the_row_and_new_total(app, auth, client, demo):
    payment = new_payment(demo.cashier)
    auth.login("demo")
    stream = client.get("/events", buffered=False)
    chunks = iter(stream.response)
    assert next(chunks).startswith(b": open")
    post_event(app.test_client(), succeeded(payment))
    # Creating the payment was announced before the stream opened; the success arrives now.
    message = next(chunks).decode()
    assert f'id="payment-{payment.public_id}"' in message and 'data-status="succeeded"' in message
    assert 'hx-target="#today-figures"' in message and 'data-testid="today-total"' in message
    stream.close()


# ---------------------------------------------------------------------- reconciliation, settlement


def bank_paid(payment: Payment) -> SandboxBankPayment:
    row = SandboxBankPayment(bank_txn_id="lost-1", transaction_id=payment.public_id, link_type="dynamic",
                             amount=payment.amount, currency="417", payer_bank="DCB", payer_name_masked="А***",
                             paid_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def test_reconciliation_repairs_a_lost_notification_and_expires_the_rest(demo):
    paid, unpaid = new_payment(demo.cashier), new_payment(demo.cashier)
    bank_paid(paid)
    before = received(demo.merchant.id)
    at_lifetime = paid.expires_at - timedelta(seconds=1)
    with time_machine.travel(at_lifetime, tick=False):
        jobs.run_all()
    assert (reload(paid).status, reload(unpaid).status) == ("pending", "pending")
    with time_machine.travel(unpaid.expires_at, tick=False):
        jobs.run_all()
    assert (reload(paid).status, reload(unpaid).status) == ("succeeded", "expired")
    assert reload(paid).bank_txn_id == "lost-1"
    assert received(demo.merchant.id) == before + paid.amount


def test_check_status_button_asks_the_bank(client, auth, demo):
    payment = new_payment(demo.cashier)
    auth.login("cashier")
    csrf = auth.csrf(f"/pay/{payment.public_id}")
    response = client.post(f"/pay/{payment.public_id}/check", data={"csrf_token": csrf},
                           headers={"HX-Request": "true"})
    assert 'data-status="pending"' in response.get_data(as_text=True)
    bank_paid(payment)
    response = client.post(f"/pay/{payment.public_id}/check", data={"csrf_token": csrf},
                           headers={"HX-Request": "true"})
    assert 'data-status="succeeded"' in response.get_data(as_text=True)


def test_sandbox_settlement_after_the_configured_delay(app, client, demo):
    payment = new_payment(demo.cashier)
    post_event(client, succeeded(payment))
    delay = app.extensions["mkassa.settings"].sandbox_settle_seconds
    paid_at = reload(payment).paid_at
    available = ledger.balances(demo.merchant.id)["available"]
    with time_machine.travel(paid_at + timedelta(seconds=delay - 1), tick=False):
        accept.settle_sandbox()
        db.session.commit()
    assert reload(payment).settled_at is None
    with time_machine.travel(paid_at + timedelta(seconds=delay), tick=False):
        accept.settle_sandbox()
        db.session.commit()
    assert reload(payment).settled_at is not None
    settle = db.session.scalar(select(LedgerTransfer).where(LedgerTransfer.code == f"settle:{payment.public_id}"))
    assert sorted(e.amount for e in settle.entries) == [-payment.amount, payment.amount]
    assert ledger.balances(demo.merchant.id)["available"] > available
    assert ledger.total_sum() == 0


def test_live_messages_leave_only_after_the_real_commit(app):
    from mkassa import live
    subscription = live.broker().subscribe("mkassa:test")
    try:
        db.session.execute(select(1))
        with db.session.begin_nested():
            live.publish_after_commit("mkassa:test", "savepoint")
        assert subscription.get(0.05) is None  # a released savepoint is not a commit
        db.session.rollback()
        assert subscription.get(0.05) is None  # rolled back: never announced
        live.publish_after_commit("mkassa:test", "committed")
        db.session.commit()
        assert subscription.get(1) == "committed"
    finally:
        subscription.close()
