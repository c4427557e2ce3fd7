"""Refunds (issue #17): the SMS-confirmed flow, its limits, who may refund, the Bank's answers."""
from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from standardwebhooks import Webhook

from mkassa.extensions import db
from mkassa.models import (BankWebhookEvent, LedgerTransfer, OutboxMessage, Payment, Refund, SandboxBankRefund,
                           utcnow)
from mkassa.models.ledger import REFUND_PENDING
from mkassa.services import jobs, ledger, otp, outbox, payments, refunds

from ..conftest import TEST_WEBHOOK_SECRET

CODE = re.compile(r"(?<![\d,.])(\d{4})(?![\d,.])")


def balances(merchant_id: int) -> dict[str, int]:
    db.session.commit()
    found = ledger.balances(merchant_id)
    found.setdefault(REFUND_PENDING, 0)
    return found


def last_code() -> str:
    db.session.commit()
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")
                            .order_by(OutboxMessage.id.desc()).limit(1))
    return CODE.search(msg.payload["text"]).group(1)


def paid(demo, amount: int, cashier=None, paid_at=None) -> Payment:
    """A payment paid and settled (its money available), by the given cashier (default: the demo cashier)."""
    paid_at = paid_at or utcnow()
    payment = Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id,
                      cashier_id=(cashier or demo.cashier).id, method="qr", amount=amount, status="succeeded",
                      created_at=paid_at, paid_at=paid_at, bank_txn_id=f"t-{uuid.uuid4().hex}")
    db.session.add(payment)
    db.session.flush()
    payments.credit(payment, at=paid_at)
    payments.settle(payment, at=paid_at)
    db.session.commit()
    return payment


def ask(client, auth, payment: Payment, amount: str):
    return client.post(f"/refunds/payment/{payment.public_id}",
                       data={"amount": amount, "csrf_token": auth.csrf(f"/pay/{payment.public_id}")})


def requested(client, auth, payment: Payment, amount: str) -> Refund:
    response = ask(client, auth, payment, amount)
    assert response.status_code == 303, response.get_data(as_text=True)
    public_id = response.headers["Location"].rstrip("/").split("/")[-2]
    db.session.commit()
    return db.session.scalar(select(Refund).where(Refund.public_id == public_id))


def confirm(client, auth, refund: Refund, code: str):
    return client.post(f"/refunds/{refund.public_id}/confirm",
                       data={"code": code, "csrf_token": auth.csrf(f"/refunds/{refund.public_id}/confirm")})


def reload(refund: Refund) -> Refund:
    db.session.commit()
    return db.session.scalar(select(Refund).where(Refund.id == refund.id))


def post_event(client, event_type: str, webhook_id: str | None = None, **data):
    body = json.dumps({"type": event_type, "data": data})
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    now = utcnow()
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(TEST_WEBHOOK_SECRET).sign(webhook_id, now, body),
               "Content-Type": "application/json"}
    return client.post("/bank/webhooks", data=body, headers=headers)


def refund_event(client, event_type: str, refund: Refund, **override):
    data = {"refund_id": refund.public_id, "payment_id": refund.payment.public_id, "amount": refund.amount,
            "bank_ref": "R-1", **override}
    return post_event(client, event_type, **data)


@pytest.fixture
def owner(client, auth, demo):
    auth.login("demo")
    return demo


def confirmed(client, auth, payment: Payment, amount: str) -> Refund:
    refund = requested(client, auth, payment, amount)
    assert confirm(client, auth, refund, last_code()).status_code == 303
    return reload(refund)


# ------------------------------------------------------------------------------------ the flow


def test_full_refund_by_default_then_the_bank_returns_it(client, auth, owner):
    payment = paid(owner, 50_000)
    page = client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    assert 'data-testid="refund"' in page
    form = client.get(f"/refunds/payment/{payment.public_id}").get_data(as_text=True)
    assert 'name="amount" value="500.00"' in form  # the whole payment by default
    before = balances(owner.merchant.id)
    refund = confirmed(client, auth, payment, "500.00")
    assert refund.status == "confirmed"
    after = balances(owner.merchant.id)
    assert after["available"] == before["available"] - 50_000 and after[REFUND_PENDING] == 50_000
    # The request leaves through the outbox, once, idempotent by refund id.
    outbox.dispatch_due()
    db.session.commit()
    assert reload(refund).status == "pending"
    assert db.session.scalar(select(func.count()).select_from(SandboxBankRefund)) == 1
    assert refund_event(client, "refund.succeeded", refund).status_code == 200
    assert reload(refund).status == "succeeded"
    done = balances(owner.merchant.id)
    assert done["available"] == after["available"] and done[REFUND_PENDING] == 0
    assert ledger.total_sum() == 0
    page = client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    assert 'data-state="refunded"' in page and 'data-testid="refund-row" data-status="succeeded"' in page
    assert 'data-testid="refund"' not in page  # nothing is left to refund
    # The same answer again is a duplicate; the opposite one is refused; neither moves money.
    assert refund_event(client, "refund.succeeded", refund).status_code == 200
    assert refund_event(client, "refund.failed", refund).status_code == 422
    assert balances(owner.merchant.id) == done


def test_partial_refunds_then_beyond_what_was_paid_is_refused(client, auth, owner):
    payment = paid(owner, 50_000)
    first = confirmed(client, auth, payment, "200")
    assert first.status == "confirmed" and first.amount == 20_000
    refund_event(client, "refund.succeeded", first)
    page = client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    assert 'data-state="partly_refunded"' in page and "Partly refunded" in page
    before = balances(owner.merchant.id)
    response = ask(client, auth, payment, "400")
    assert response.status_code == 422
    assert "more than is left to refund: at most 300.00" in response.get_data(as_text=True)
    assert balances(owner.merchant.id) == before
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    # The rest, exactly, is fine; then nothing is left.
    confirmed(client, auth, payment, "300")
    response = ask(client, auth, payment, "0.01")
    assert response.status_code == 422 and "already been refunded in full" in response.get_data(as_text=True)


def test_two_refunds_asked_before_either_is_confirmed_never_exceed_the_payment(client, auth, owner):
    payment = paid(owner, 50_000)
    first = requested(client, auth, payment, "300")
    first_code = last_code()
    second = requested(client, auth, payment, "300")
    second_code = last_code()
    assert confirm(client, auth, first, first_code).status_code == 303
    before = balances(owner.merchant.id)
    response = confirm(client, auth, second, second_code)
    assert response.status_code == 422
    assert "at most 200.00" in response.get_data(as_text=True)
    assert reload(second).status == "requested" and balances(owner.merchant.id) == before


def test_beyond_the_available_balance_is_refused(client, auth, owner):
    payment = paid(owner, 50_000)
    available = balances(owner.merchant.id)["available"]
    # Withdraw all but 100,00 of what is available: the payment is paid, but its money is gone.
    ledger.post("test:drain", "payout_reserve", [
        (ledger.get_account("available", owner.merchant.id), -(available - 10_000)),
        (ledger.get_account("payout_pending", owner.merchant.id), available - 10_000)], merchant_id=owner.merchant.id)
    db.session.commit()
    response = ask(client, auth, payment, "200")
    assert response.status_code == 422
    assert "you can refund at most 100.00\xa0som now" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_a_failed_refund_releases_the_reservation(client, auth, owner):
    payment = paid(owner, 50_000)
    before = balances(owner.merchant.id)
    refund = confirmed(client, auth, payment, "100")
    assert refund_event(client, "refund.failed", refund, reason="Card 4111 1111 1111 1111 closed").status_code == 200
    refund = reload(refund)
    assert refund.status == "failed" and "4111 1111 1111 1111" not in refund.failure_reason
    assert balances(owner.merchant.id) == before
    assert refunds.refundable(payment) == 50_000  # a failed refund gives its share back
    codes = set(db.session.scalars(select(LedgerTransfer.code).where(LedgerTransfer.code.startswith("refund:"))))
    assert codes == {f"refund:{refund.public_id}:reserve", f"refund:{refund.public_id}:release"}


def test_wrong_code_keeps_nothing_and_a_code_confirms_only_its_refund(client, auth, owner):
    payment = paid(owner, 50_000)
    refund = requested(client, auth, payment, "100")
    code = last_code()
    wrong = "0000" if code != "0000" else "1111"
    response = confirm(client, auth, refund, wrong)
    assert response.status_code == 422 and reload(refund).status == "requested"
    other = requested(client, auth, payment, "100")
    assert confirm(client, auth, other, code).status_code == 422  # the first refund's code
    assert confirm(client, auth, refund, code).status_code == 303
    assert reload(refund).status == "confirmed"


@pytest.mark.parametrize("seconds, accepted", [(otp.CODE_LIFETIME_SECONDS - 1, True),
                                                (otp.CODE_LIFETIME_SECONDS, False)])
def test_code_lifetime_boundary(client, auth, owner, seconds, accepted):
    payment = paid(owner, 50_000)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        refund = requested(client, auth, payment, "100")
        code = last_code()
    with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
        response = confirm(client, auth, refund, code)
    assert (response.status_code == 303) is accepted
    assert reload(refund).status == ("confirmed" if accepted else "requested")


def test_tries_then_the_daily_lock(client, auth, owner, monkeypatch):
    payment = paid(owner, 50_000)
    refund = requested(client, auth, payment, "100")
    code = last_code()
    wrong = "0000" if code != "0000" else "1111"
    for _ in range(otp.MAX_TRIES):
        assert confirm(client, auth, refund, wrong).status_code == 422
    assert confirm(client, auth, refund, code).status_code == 422  # out of tries: even the right code
    monkeypatch.setattr(otp, "MAX_CODES_PER_HOUR", 100)
    for _ in range(otp.LOCK_AFTER_FAILURES):
        client.post(f"/refunds/{refund.public_id}/resend", data={"csrf_token": auth.csrf("/")})
        confirm(client, auth, refund, wrong)
    # Locked for the day: no new code is sent, and no code confirms.
    assert client.post(f"/refunds/{refund.public_id}/resend", data={"csrf_token": auth.csrf("/")}).status_code == 429
    response = confirm(client, auth, refund, code)
    assert response.status_code == 429 and reload(refund).status == "requested"


def test_refund_window_boundary(client, auth, owner):
    now = utcnow()
    inside = paid(owner, 10_000, paid_at=now - refunds.REFUND_WINDOW + timedelta(minutes=1))
    outside = paid(owner, 10_000, paid_at=now - refunds.REFUND_WINDOW - timedelta(minutes=1))
    assert ask(client, auth, inside, "1").status_code == 303
    response = ask(client, auth, outside, "1")
    assert response.status_code == 403 and "within 30 days" in response.get_data(as_text=True)
    assert 'data-testid="refund"' not in client.get(f"/pay/{outside.public_id}").get_data(as_text=True)


def test_only_a_paid_payment_is_refunded(client, auth, owner):
    payment = Payment(merchant_id=owner.merchant.id, method="qr", amount=10_000, status="expired")
    db.session.add(payment)
    db.session.commit()
    assert ask(client, auth, payment, "1").status_code == 403


# ------------------------------------------------------------------------------------ cashiers


def test_cashiers_may_not_refund_until_the_owner_allows_it(client, auth, demo):
    payment = paid(demo, 10_000, cashier=demo.cashier)
    auth.login("cashier")
    assert 'data-testid="refund"' not in client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    response = ask(client, auth, payment, "10")
    assert response.status_code == 403 and "Only the owner can refund" in response.get_data(as_text=True)
    assert client.post("/refunds/settings", data={"cashiers_may_refund": "on",
                                                  "csrf_token": auth.csrf("/")}).status_code == 403
    auth.logout()
    auth.login("demo")
    assert client.post("/refunds/settings", data={"cashiers_may_refund": "on",
                                                  "csrf_token": auth.csrf("/refunds/settings")}).status_code == 303
    auth.logout()
    auth.login("cashier")
    assert 'data-testid="refund"' in client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    refund = requested(client, auth, payment, "10")
    assert confirm(client, auth, refund, last_code()).status_code == 303
    assert reload(refund).status == "confirmed"


def test_a_cashier_refunds_only_their_own_payments_of_the_same_day(client, auth, demo):
    demo.merchant.cashiers_may_refund = True
    db.session.commit()
    others = paid(demo, 10_000, cashier=demo.cashier2)
    yesterday = paid(demo, 10_000, cashier=demo.cashier, paid_at=utcnow() - timedelta(days=1, minutes=1))
    auth.login("cashier")
    assert ask(client, auth, others, "1").status_code == 404  # another cashier's payment is not seen
    response = ask(client, auth, yesterday, "1")
    assert response.status_code == 403 and "only payments of the same day" in response.get_data(as_text=True)
    auth.logout()
    auth.login("demo")
    assert ask(client, auth, yesterday, "1").status_code == 303  # the owner may


def test_a_cashiers_home_nets_only_the_refunds_of_their_own_payments(client, auth, demo):
    """Today's refunds on home are read in the same statement as the day's total, through the
    cashier's scope (refunds of their own payments), never the merchant's."""
    mine, theirs = paid(demo, 30_000, cashier=demo.cashier), paid(demo, 40_000, cashier=demo.cashier2)
    auth.login("demo")
    for payment, amount in ((mine, "50"), (theirs, "70")):
        refund_event(client, "refund.succeeded", confirmed(client, auth, payment, amount))
    owners = client.get("/").get_data(as_text=True)
    assert _amount(owners, "today-refunds") == 12_000
    auth.logout()
    auth.login("cashier")
    home = client.get("/").get_data(as_text=True)
    assert _amount(home, "today-refunds") == 5_000
    assert _amount(home, "today-net") == _amount(home, "today-total") - 5_000
    auth.logout()
    auth.login("cashier2")
    assert _amount(client.get("/").get_data(as_text=True), "today-refunds") == 7_000


def test_a_cashier_cannot_confirm_another_users_refund(client, auth, demo):
    demo.merchant.cashiers_may_refund = True
    db.session.commit()
    payment = paid(demo, 10_000, cashier=demo.cashier2)
    auth.login("demo")
    refund = requested(client, auth, payment, "1")
    auth.logout()
    auth.login("cashier")
    assert confirm(client, auth, refund, last_code()).status_code == 404


# ------------------------------------------------------------------------------------ the Bank


def test_webhook_mismatches_are_refused_and_listed_in_the_console(client, auth, owner, admin_user):
    payment = paid(owner, 50_000)
    refund = confirmed(client, auth, payment, "100")
    before = balances(owner.merchant.id)
    assert post_event(client, "refund.succeeded", refund_id="01UNKNOWNREFUND0000000000X",
                      payment_id=payment.public_id, amount=100).status_code == 422
    assert refund_event(client, "refund.succeeded", refund, amount=refund.amount + 1).status_code == 422
    assert refund_event(client, "refund.succeeded", refund, payment_id="01OTHERPAYMENT00000000000X").status_code == 422
    assert balances(owner.merchant.id) == before and reload(refund).status == "confirmed"
    reasons = set(db.session.scalars(select(BankWebhookEvent.reason).where(BankWebhookEvent.outcome == "mismatch")))
    assert any("unknown refund_id" in r for r in reasons) and any("amount" in r for r in reasons)
    auth.logout()
    auth.login("operator", "operator-pass-1")
    html = client.get("/admin/webhooks").get_data(as_text=True)
    assert "unknown refund_id" in html and "refund.succeeded" in html


def test_sandbox_bank_completes_after_its_delay_and_fails_amounts_ending_in_13(client, auth, owner, app):
    payment = paid(owner, 50_000)
    good = confirmed(client, auth, payment, "100")
    bad = confirmed(client, auth, payment, "100.13")
    outbox.dispatch_due()
    db.session.commit()
    before = balances(owner.merchant.id)
    delay = app.extensions["mkassa.settings"].sandbox_refund_seconds
    assert refunds.complete_sandbox_refunds(now=utcnow() + timedelta(seconds=delay - 1)) == 0
    db.session.commit()
    assert refunds.complete_sandbox_refunds(now=utcnow() + timedelta(seconds=delay + 1)) == 2
    db.session.commit()
    assert reload(good).status == "succeeded" and reload(bad).status == "failed"
    after = balances(owner.merchant.id)
    assert after["available"] == before["available"] + 10_013 and after[REFUND_PENDING] == 0
    assert ledger.total_sum() == 0


def test_reconciliation_repairs_a_lost_answer(client, auth, owner):
    payment = paid(owner, 50_000)
    refund = confirmed(client, auth, payment, "100")
    outbox.dispatch_due()
    db.session.commit()
    row = db.session.scalar(select(SandboxBankRefund).where(SandboxBankRefund.refund_id == refund.public_id))
    row.status = "succeeded"  # the Bank finished it; its webhook was lost
    db.session.commit()
    later = utcnow() + timedelta(seconds=refunds.OVERDUE_SECONDS + 1)
    assert refunds.reconcile_overdue_refunds(now=later) == 1
    assert reload(refund).status == "succeeded"


def bank_down_until_the_outbox_gives_up(monkeypatch, gateway: str) -> None:
    """The core bank refuses every call of `gateway` until the outbox marks the request dead."""
    from mkassa.gateways import corebank
    real = getattr(corebank, gateway)

    def down(*args, **kwargs):
        raise ConnectionError("core bank unreachable")

    monkeypatch.setattr(corebank, gateway, down)
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.dispatch_due()
            clock.shift(timedelta(seconds=outbox.BACKOFF_MAX_SECONDS))
    monkeypatch.setattr(corebank, gateway, real)  # back up


def test_a_refund_the_outbox_gave_up_on_is_asked_for_again_once_the_bank_is_back(client, auth, owner, monkeypatch):
    payment = paid(owner, 50_000)
    refund = confirmed(client, auth, payment, "100")
    bank_down_until_the_outbox_gives_up(monkeypatch, "request_refund")
    request = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "refund.request"))
    assert request.status == "dead" and reload(refund).status == "confirmed"
    assert balances(owner.merchant.id)[REFUND_PENDING] == 10_000  # still reserved, not lost

    later = utcnow() + timedelta(seconds=refunds.OVERDUE_SECONDS + 1)
    assert refunds.reconcile_overdue_refunds(now=later) == 1  # the Bank has no record: ask again
    assert outbox.dispatch_due() == 1
    assert reload(refund).status == "pending"
    assert refunds.reconcile_overdue_refunds(now=later) == 1  # taken now: nothing is revived twice
    assert outbox.dispatch_due() == 0
    assert db.session.scalar(select(func.count()).select_from(SandboxBankRefund)) == 1
    db.session.execute(SandboxBankRefund.__table__.update().values(status="succeeded"))
    db.session.commit()
    refunds.reconcile_overdue_refunds(now=later)
    assert reload(refund).status == "succeeded"
    after = balances(owner.merchant.id)
    assert after[REFUND_PENDING] == 0 and ledger.total_sum() == 0


def test_jobs_are_registered():
    assert {"reconcile_refunds", "complete_sandbox_refunds"} <= {job.name for job in jobs.registered()}


# ------------------------------------------------------------------------------------ visible everywhere


def _amount(html: str, testid: str) -> int:
    return int(re.search(rf'data-testid="{testid}" data-amount="(-?\d+)"', html).group(1))


def test_home_reports_statement_and_excel_show_the_refund(client, auth, owner):
    payment = paid(owner, 50_000)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="today-refunds"' not in home
    report = client.get("/reports/?period=today").get_data(as_text=True)
    net_before = _amount(report, "report-net")
    refund = confirmed(client, auth, payment, "200")
    refund_event(client, "refund.succeeded", refund)
    home = client.get("/").get_data(as_text=True)
    assert _amount(home, "today-refunds") == 20_000
    assert _amount(home, "today-net") == _amount(home, "today-total") - 20_000
    report = client.get("/reports/?period=today").get_data(as_text=True)
    assert _amount(report, "report-refunds") == 20_000
    assert _amount(report, "report-net") == net_before - 20_000
    statement = client.get("/account/").get_data(as_text=True)
    assert 'data-kind="refund_reserve"' in statement and "Refunds to payers" in statement
    token = auth.csrf("/reports/")
    with client.post("/reports/export", data={"period": "today", "status": "succeeded",
                                              "csrf_token": token}) as response:
        assert response.status_code == 200
        data = response.get_data()
    from decimal import Decimal
    import io
    from openpyxl import load_workbook
    rows = [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]
    refunds_row = next(r for r in rows if r[0] == "Refunds")
    net_row = rows[-1]
    assert refunds_row[1] == 1 and Decimal(str(refunds_row[6])) == Decimal("-200")
    assert net_row[0] == "Net" and Decimal(str(net_row[6])) * 100 == net_before - 20_000


def test_a_cashiers_report_counts_only_refunds_of_their_payments(client, auth, demo):
    mine, theirs = paid(demo, 10_000, cashier=demo.cashier), paid(demo, 10_000, cashier=demo.cashier2)
    auth.login("demo")
    for payment in (mine, theirs):
        refund_event(client, "refund.succeeded", confirmed(client, auth, payment, "10"))
    assert _amount(client.get("/reports/?period=today").get_data(as_text=True), "report-refunds") == 2_000
    auth.logout()
    auth.login("cashier")
    assert _amount(client.get("/reports/?period=today").get_data(as_text=True), "report-refunds") == 1_000


def test_the_shift_report_shows_refunds_of_its_payments(client, auth, demo):
    from mkassa.models import Shift
    from mkassa.services import shifts
    shift = Shift(merchant_id=demo.merchant.id, cashier_id=demo.cashier.id, point_id=demo.points[0].id,
                  opened_at=utcnow() - timedelta(hours=1))
    db.session.add(shift)
    db.session.flush()
    payment = paid(demo, 30_000)
    payment.shift_id = shift.id
    db.session.commit()
    auth.login("demo")
    refund_event(client, "refund.succeeded", confirmed(client, auth, payment, "100"))
    summary = shifts.summarize(db.session.get(Shift, shift.id))
    assert (summary.paid_amount, summary.refunded, summary.refund_count, summary.net) == (30_000, 10_000, 1, 20_000)


def test_the_console_lists_refunds_and_the_failed_ones(client, auth, owner, admin_user):
    payment = paid(owner, 50_000)
    good = confirmed(client, auth, payment, "100")
    bad = confirmed(client, auth, payment, "50")
    refund_event(client, "refund.succeeded", good)
    refund_event(client, "refund.failed", bad, reason="Account closed")
    auth.logout()
    auth.login("operator", "operator-pass-1")
    html = client.get("/admin/refunds").get_data(as_text=True)
    assert f'data-refund="{good.public_id}" data-status="succeeded"' in html
    assert f'data-refund="{bad.public_id}" data-status="failed"' in html
    failed = client.get("/admin/refunds?status=failed").get_data(as_text=True)
    assert good.public_id not in failed and bad.public_id in failed and "Account closed" in failed
    assert client.get("/admin/refunds?status=nonsense").status_code == 422


# ------------------------------------------------------------------------------------ production adapter


def test_production_adapter_asks_the_core_bank_once_per_refund_id(app, monkeypatch):
    """request_refund POSTs with the refund id as Idempotency-Key; find_refund reads the Bank's record (404: none)."""
    import threading
    from dataclasses import replace
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mkassa.gateways import corebank

    seen: list[tuple[str, str, dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.append(("POST", self.path, dict(self.headers), body))
            self.send_response(202)
            self.end_headers()

        def do_GET(self):
            seen.append(("GET", self.path, dict(self.headers), ""))
            if self.path.endswith("/KNOWN"):
                payload = json.dumps({"refund": {"status": "failed", "bank_ref": "B-9", "reason": "closed"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload)
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = app.extensions["mkassa.settings"]
        monkeypatch.setitem(app.extensions, "mkassa.settings", replace(
            settings, bank_mode="production", corebank_url=f"http://127.0.0.1:{server.server_port}/v1", corebank_token="t0k"))
        corebank.request_refund("R1", "P1", 12_345)
        method, path, headers, body = seen[0]
        assert (method, path) == ("POST", "/v1/refunds")
        assert headers["Idempotency-Key"] == "mkassa-refund-R1" and headers["Authorization"] == "Bearer t0k"
        assert json.loads(body) == {"refund_id": "R1", "payment_id": "P1", "amount": 12_345, "currency": "KGS"}
        assert corebank.find_refund("KNOWN") == corebank.BankRefund("failed", "B-9", "closed")
        assert corebank.find_refund("NEVER") is None
    finally:
        server.shutdown()
        server.server_close()


def test_the_payers_receipt_shows_each_refund_once_confirmed(client, auth, owner, app):
    payment = paid(owner, 50_000)
    requested(client, auth, payment, "100.00")  # waiting for its code: not a refund yet
    stranger = app.test_client()  # the payer's own phone: signed out
    page = stranger.get(f"/r/{payment.receipt_token}").get_data(as_text=True)
    assert 'data-testid="receipt-refunds"' not in page
    refund = confirmed(client, auth, payment, "200.00")
    outbox.dispatch_due()
    db.session.commit()
    assert refund_event(client, "refund.succeeded", refund).status_code == 200
    page = stranger.get(f"/r/{payment.receipt_token}").get_data(as_text=True)
    assert page.count('data-testid="receipt-refund"') == 1
    assert 'data-status="succeeded" data-amount="20000"' in page
