"""The bank console's tables (D4): what bank staff see, filter and page through, and what they never see."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from mkassa.extensions import db
from mkassa.gateways.sms import queue_sms
from mkassa.models import (AuditEvent, BankWebhookEvent, Merchant, OutboxMessage, Payment, Payout, User, UserSession,
                           utcnow)
from mkassa.services import outbox as outbox_service
from mkassa.services import payouts as payout_service
from mkassa.services import webhooks
from mkassa.services.console import CONSOLE_PAGE_SIZE, SEARCH_MAX
from mkassa.services.ledger import open_merchant_accounts

from ..conftest import Auth

PAGES = ["/admin/", "/admin/users", "/admin/payments", "/admin/webhooks", "/admin/payouts", "/admin/outbox",
         "/admin/audit"]


@pytest.fixture
def console(client, auth, admin_user, demo):
    client.set_cookie("lang", "en", domain="localhost")
    auth.login("operator", "operator-pass-1")
    return demo


def rows(html: str, testid: str) -> list[str]:
    return re.findall(rf'<tr data-testid="{testid}".*?</tr>', html, flags=re.S)


def next_link(html: str) -> str | None:
    match = re.search(r'href="([^"]+)" data-testid="next-page"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def other_merchant() -> Merchant:
    merchant = Merchant(legal_name="ОсОО Бета", display_name="Beta", inn="02202201810011", mcc="5812",
                        account_number="1030120000077777", bank_name="Beta Bank", bank_bic="103002",
                        account_opened_on=utcnow().date())
    db.session.add(merchant)
    db.session.flush()
    db.session.add(User(merchant_id=merchant.id, role="owner", login="betaowner", password_hash="x",
                        name="Beta Owner", phone="+996700555001"))
    open_merchant_accounts(merchant.id)
    db.session.commit()
    return merchant


def test_every_console_table_opens_with_its_tab_marked(client, console):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert 'data-testid="console-tabs"' in html
        current = re.search(r'<a href="([^"]+)" data-testid="tab-\w+" aria-current="page"', html)
        assert current and current.group(1) == path


@pytest.mark.parametrize("login", ["demo", "cashier"])
def test_owners_and_cashiers_are_refused_everywhere(client, auth, demo, login):
    auth.login(login)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    cashier = db.session.scalar(select(User).where(User.login == "cashier2"))
    response = client.post(f"/admin/users/{cashier.public_id}/active", data={"active": "0", "csrf_token": auth.csrf("/")})
    assert response.status_code == 403
    db.session.commit()
    assert db.session.get(User, cashier.id).active


def test_anonymous_visitors_are_sent_to_sign_in(client, demo):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_merchants_are_found_by_name_or_inn_and_link_to_their_tables(client, console):
    other_merchant()
    html = client.get("/admin/?q=beta").get_data(as_text=True)
    assert len(rows(html, "merchant-row")) == 1 and "Beta Owner" in html and "Demo Shop" not in html
    assert len(rows(client.get("/admin/?q=21505199").get_data(as_text=True), "merchant-row")) == 1
    html = client.get("/admin/").get_data(as_text=True)
    assert len(rows(html, "merchant-row")) == 2
    assert f"/admin/payments?merchant={console.merchant.public_id}" in html
    response = client.get("/admin/?q=" + "x" * (SEARCH_MAX + 1))
    assert response.status_code == 422 and f"At most {SEARCH_MAX} characters." in response.get_data(as_text=True)
    assert client.get("/admin/?q=" + "x" * SEARCH_MAX).status_code == 200


def test_payments_filter_by_merchant_status_and_flag(client, console):
    beta = other_merchant()
    db.session.add(Payment(merchant_id=beta.id, method="qr", amount=123450, status="succeeded", paid_at=utcnow()))
    flagged = db.session.scalar(select(Payment).where(Payment.merchant_id == console.merchant.id,
                                                      Payment.status == "succeeded").limit(1))
    flagged.flagged = True
    db.session.commit()
    demo_count = db.session.scalar(select(func.count()).where(Payment.merchant_id == console.merchant.id))
    demo_succeeded = db.session.scalar(select(func.count()).where(Payment.merchant_id == console.merchant.id,
                                                                  Payment.status == "succeeded"))

    everything = client.get("/admin/payments").get_data(as_text=True)
    assert len(rows(everything, "payment-row")) == demo_count + 1
    assert "1,234.50\xa0som" in everything  # amounts through the money filter (English)

    beta_only = client.get(f"/admin/payments?merchant={beta.public_id}").get_data(as_text=True)
    assert len(rows(beta_only, "payment-row")) == 1 and "1,234.50\xa0som" in beta_only
    html = client.get(f"/admin/payments?merchant={console.merchant.public_id}&status=succeeded").get_data(as_text=True)
    assert len(rows(html, "payment-row")) == demo_succeeded
    html = client.get("/admin/payments?flagged=1").get_data(as_text=True)
    (row,) = rows(html, "payment-row")
    assert flagged.public_id in row and 'data-testid="flagged"' in row


@pytest.mark.parametrize("query,message", [
    ("status=paid", "Choose a value from the list."),
    ("merchant=01J00000000000000000000000", "No such merchant."),
])
def test_an_unknown_filter_value_is_an_error_next_to_its_field(client, console, query, message):
    response = client.get(f"/admin/payments?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html and 'aria-invalid="true"' in html
    assert rows(html, "payment-row") == []


def _payments_at_one_instant(merchant_id: int, count: int) -> None:
    # One instant for all: the pages must still split them exactly, by id, with no repeat and no gap.
    at = utcnow()
    db.session.add_all([Payment(merchant_id=merchant_id, method="qr", amount=100 + i, created_at=at)
                        for i in range(count)])
    db.session.commit()


def test_a_full_page_has_no_next_page(client, console):
    beta = other_merchant()
    _payments_at_one_instant(beta.id, CONSOLE_PAGE_SIZE)
    html = client.get(f"/admin/payments?merchant={beta.public_id}").get_data(as_text=True)
    assert len(rows(html, "payment-row")) == CONSOLE_PAGE_SIZE and next_link(html) is None


def test_one_row_more_than_a_page_goes_to_the_next_page_in_order(client, console):
    beta = other_merchant()
    _payments_at_one_instant(beta.id, CONSOLE_PAGE_SIZE + 1)
    first = client.get(f"/admin/payments?merchant={beta.public_id}&status=pending").get_data(as_text=True)
    assert len(rows(first, "payment-row")) == CONSOLE_PAGE_SIZE
    link = next_link(first)
    assert f"merchant={beta.public_id}" in link and "status=pending" in link  # the filters stay on
    second = client.get(link).get_data(as_text=True)
    assert len(rows(second, "payment-row")) == 1 and next_link(second) is None
    shown = re.findall(r"<small>(\w{26})</small>", first + second)
    expected = db.session.scalars(select(Payment.public_id).where(Payment.merchant_id == beta.id)
                                  .order_by(Payment.id.desc())).all()
    assert shown == expected


@pytest.mark.parametrize("cursor", ["abc", "1.2.3", "99999999999999999999999.1", "1", f"1.{2**63}"])
def test_a_broken_page_link_says_so(client, console, cursor):
    response = client.get(f"/admin/payments?after={cursor}")
    assert response.status_code == 400  # like every list's (services/keyset.py)
    assert "This page link is broken." in response.get_data(as_text=True)


def test_users_filter_and_never_show_a_password_hash(client, console):
    html = client.get(f"/admin/users?merchant={console.merchant.public_id}&role=cashier").get_data(as_text=True)
    assert sorted(re.findall(r'data-testid="user-row" data-login="(\w+)"', html)) == ["cashier", "cashier2"]
    html = client.get("/admin/users?role=admin").get_data(as_text=True)
    assert re.findall(r'data-testid="user-row" data-login="(\w+)"', html) == ["operator"]
    assert 'data-testid="user-toggle"' not in html  # nobody switches off their own access
    everything = client.get("/admin/users").get_data(as_text=True)
    for user in db.session.scalars(select(User)):
        assert user.password_hash not in everything
    assert client.get("/admin/users?active=maybe").status_code == 422


def test_bank_deactivates_a_cashier_who_is_signed_out_everywhere(app, client, auth, console):
    cashier_client = app.test_client()
    Auth(cashier_client).login("cashier")
    assert cashier_client.get("/").status_code == 200
    cashier = db.session.scalar(select(User).where(User.login == "cashier"))

    response = client.post(f"/admin/users/{cashier.public_id}/active",
                           data={"active": "0", "csrf_token": auth.csrf("/admin/users")})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "cashier is deactivated and was signed out everywhere." in page
    db.session.commit()
    assert not db.session.get(User, cashier.id).active
    assert db.session.scalar(select(func.count()).where(UserSession.user_id == cashier.id,
                                                        UserSession.revoked_at.is_(None))) == 0
    assert cashier_client.get("/").status_code == 302  # back to the sign-in

    html = client.get("/admin/audit?action=cashier.").get_data(as_text=True)
    (row,) = rows(html, "audit-row")
    assert "operator" in row and "cashier.deactivate" in row and cashier.public_id in row


def test_bank_switches_an_owner_off_and_on_and_the_audit_log_shows_it(client, auth, console):
    owner = console.owner
    token = auth.csrf("/admin/users")
    assert client.post(f"/admin/users/{owner.public_id}/active", data={"active": "0", "csrf_token": token}).status_code == 302
    db.session.commit()
    assert not db.session.get(User, owner.id).active
    assert client.post(f"/admin/users/{owner.public_id}/active", data={"active": "1", "csrf_token": token}).status_code == 302
    db.session.commit()
    assert db.session.get(User, owner.id).active
    html = client.get(f"/admin/audit?merchant={console.merchant.public_id}&action=user.").get_data(as_text=True)
    assert [re.search(r"<code>([\w.]+)</code>", r).group(1) for r in rows(html, "audit-row")] == \
        ["user.activate", "user.deactivate"]


def test_an_owner_whose_phone_went_to_someone_else_cannot_be_switched_on(client, auth, console):
    owner = console.owner
    owner.active = False
    db.session.add(User(merchant_id=console.merchant.id, role="cashier", login="newcomer", password_hash="x",
                        name="Newcomer", phone=owner.phone, point_id=console.points[0].id))
    db.session.commit()
    response = client.post(f"/admin/users/{owner.public_id}/active", data={"active": "1", "csrf_token": auth.csrf("/admin/users")})
    assert response.status_code == 409
    assert "This phone number already belongs to an active user." in response.get_data(as_text=True)
    db.session.commit()
    assert not db.session.get(User, owner.id).active
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "user.activate")) == 0


def test_staff_cannot_switch_off_their_own_access(client, auth, console, admin_user):
    response = client.post(f"/admin/users/{admin_user.public_id}/active",
                           data={"active": "0", "csrf_token": auth.csrf("/admin/users")})
    assert response.status_code == 409
    assert "You cannot switch off your own access." in response.get_data(as_text=True)
    db.session.commit()
    assert db.session.get(User, admin_user.id).active
    assert client.get("/admin/users").status_code == 200  # still signed in


def test_unknown_user_is_not_found(client, auth, console):
    response = client.post("/admin/users/01J00000000000000000000000/active",
                           data={"active": "0", "csrf_token": auth.csrf("/admin/users")})
    assert response.status_code == 404


def test_webhook_issues_list_mismatches_with_their_reason_newest_first(client, console):
    for n in (1, 2):
        body = json.dumps({"type": "payment.succeeded", "data": {
            "bank_txn_id": f"TXN-{n}", "link_type": "dynamic", "transaction_id": f"NOPE{n}", "amount": 100,
            "currency": "417", "paid_at": utcnow().isoformat()}}).encode()
        assert webhooks.ingest(f"msg_{n}", body).outcome == "mismatch"
        db.session.commit()
    db.session.add(BankWebhookEvent(webhook_id="msg_ok", outcome="processed", body="{}"))
    db.session.commit()
    html = client.get("/admin/webhooks").get_data(as_text=True)
    found = rows(html, "webhook-row")
    assert len(found) == 2
    assert "unknown transaction_id NOPE2" in found[0] and "unknown transaction_id NOPE1" in found[1]
    assert "msg_ok" not in html and "paid_at" not in html  # the reason, never the body


def test_overdue_payouts_come_first(client, console):
    now = utcnow()
    owner = console.owner

    def payout(status: str, minutes_ago: int) -> Payout:
        row = Payout(merchant_id=console.merchant.id, requested_by_id=owner.id, amount=50000,
                     mbank_phone="+996555123456", status=status, created_at=now - timedelta(minutes=minutes_ago),
                     confirmed_at=now - timedelta(minutes=minutes_ago))
        db.session.add(row)
        return row

    old = payout("pending", 30)
    recent = payout("pending", 1)
    done = payout("succeeded", 5)
    db.session.commit()
    payout_service.reconcile_overdue_payouts(now)  # the job that flags payouts in flight too long
    db.session.commit()
    assert db.session.get(Payout, old.id).flagged_overdue and not db.session.get(Payout, recent.id).flagged_overdue

    html = client.get("/admin/payouts").get_data(as_text=True)
    order = re.findall(r'data-testid="payout-row" data-payout="(\w+)"', html)
    assert order == [old.public_id, recent.public_id, done.public_id]
    assert 'data-testid="overdue"' in rows(html, "payout-row")[0]
    html = client.get("/admin/payouts?overdue=1").get_data(as_text=True)
    assert re.findall(r'data-testid="payout-row" data-payout="(\w+)"', html) == [old.public_id]
    assert "500.00\xa0som" in html


def test_payouts_page_past_the_overdue_ones(client, console):
    owner, now = console.owner, utcnow()
    db.session.add_all([Payout(merchant_id=console.merchant.id, requested_by_id=owner.id, amount=100 + i,
                               mbank_phone="+996555123456", status="pending", created_at=now,
                               flagged_overdue=i < 2) for i in range(CONSOLE_PAGE_SIZE + 1)])
    db.session.commit()
    first = client.get("/admin/payouts").get_data(as_text=True)
    second = client.get(next_link(first)).get_data(as_text=True)
    ids = re.findall(r'data-payout="(\w+)"', first) + re.findall(r'data-payout="(\w+)"', second)
    assert len(ids) == len(set(ids)) == CONSOLE_PAGE_SIZE + 1
    assert [("data-testid=\"overdue\"" in r) for r in rows(first, "payout-row")][:3] == [True, True, False]


def test_outbox_shows_what_waits_and_what_died_but_never_what_it_carries(client, console):
    db.session.execute(delete(OutboxMessage))
    queue_sms("+996555000111", "MKASSA: your login x, password Secret9xyz")
    dead = outbox_service.enqueue("push", {"endpoint": "https://push.example/abc", "body": "Code 4821"})
    sent = outbox_service.enqueue("email", {"to": "a@example.com"})
    db.session.flush()
    dead.status, dead.attempts = "dead", outbox_service.MAX_ATTEMPTS
    dead.last_error = "HTTPError: 410 Gone for https://push.example/abc"  # an error that echoes the payload
    sent.status = "sent"
    db.session.commit()

    html = client.get("/admin/outbox").get_data(as_text=True)
    found = rows(html, "outbox-row")
    assert len(found) == 2 and any("push" in r and str(outbox_service.MAX_ATTEMPTS) in r and "410 Gone" in r
                                   for r in found)
    for secret in ("Secret9xyz", "4821", "https://push.example/abc", "a@example.com", "+996555000111"):
        assert secret not in html
    html = client.get("/admin/outbox?status=dead").get_data(as_text=True)
    assert len(rows(html, "outbox-row")) == 1
    html = client.get("/admin/outbox?status=sent").get_data(as_text=True)
    assert len(rows(html, "outbox-row")) == 1 and "email" in html


def test_console_pages_never_carry_an_sms_text(client, console):
    queue_sms("+996555000111", "MKASSA: your password Secret9xyz")
    db.session.commit()
    outbox_service.dispatch_due()
    for path in PAGES:
        assert "Secret9xyz" not in client.get(path).get_data(as_text=True), path
    assert "Secret9xyz" in client.get("/sandbox/sms").get_data(as_text=True)  # the one place it is shown
