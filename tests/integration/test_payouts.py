"""Withdraw funds (M7): the screen, the SMS-confirmed flow, the Bank's answers, reconciliation."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from standardwebhooks import Webhook

from mkassa.extensions import db
from mkassa.models import BankWebhookEvent, LedgerTransfer, OutboxMessage, Payout, SandboxBankPayout, utcnow
from mkassa.models.payout import PayoutStatus
from mkassa.services import jobs, ledger, otp, outbox, payouts

from ..conftest import TEST_WEBHOOK_SECRET, Auth

CODE = re.compile(r"(?<![\d,.])(\d{4})(?![\d,.])")


def balances(merchant_id: int) -> dict[str, int]:
    db.session.commit()  # see what the requests committed
    return ledger.balances(merchant_id)


def last_code() -> str:
    """The code in the newest SMS still in the outbox (the sandbox SMS gateway would show the same)."""
    db.session.commit()
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")
                            .order_by(OutboxMessage.id.desc()).limit(1))
    return CODE.search(msg.payload["text"]).group(1)


def ask(client, auth, amount: str):
    return client.post("/payouts/", data={"amount": amount, "csrf_token": auth.csrf("/payouts/")})


def requested(client, auth, amount: str) -> Payout:
    response = ask(client, auth, amount)
    assert response.status_code == 303, response.get_data(as_text=True)
    public_id = response.headers["Location"].rstrip("/").split("/")[-2]
    db.session.commit()
    return db.session.scalar(select(Payout).where(Payout.public_id == public_id))


def confirm(client, auth, payout: Payout, code: str, headers: dict | None = None, csrf: str | None = None):
    return client.post(f"/payouts/{payout.public_id}/confirm", headers=headers or {},
                       data={"code": code, "csrf_token": csrf or auth.csrf("/payouts/")})


def reload(payout: Payout) -> Payout:
    db.session.commit()
    return db.session.scalar(select(Payout).where(Payout.id == payout.id))


def transfers(prefix: str) -> list[str]:
    db.session.commit()
    return list(db.session.scalars(select(LedgerTransfer.code).where(LedgerTransfer.code.startswith(prefix))))


def post_event(client, event_type: str, payout: Payout, webhook_id: str | None = None, **data):
    body = json.dumps({"type": event_type, "data": {"payout_id": payout.public_id, "bank_ref": "REF-1", **data}})
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    now = utcnow()
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(TEST_WEBHOOK_SECRET).sign(webhook_id, now, body),
               "Content-Type": "application/json"}
    return client.post("/bank/webhooks", data=body, headers=headers)


@pytest.fixture
def owner(client, auth, demo):
    auth.login("demo")
    return demo


def som(tyiyn: int) -> str:
    return f"{tyiyn // 100},{tyiyn % 100:02d}"


# ------------------------------------------------------------------------------------ the screen


def test_screen_shows_mbank_number_balances_and_history(client, owner):
    before = balances(owner.merchant.id)
    assert before["available"] > 0
    html = client.get("/payouts/").get_data(as_text=True)
    assert owner.merchant.mbank_phone in html
    assert f'data-testid="balance-available" data-amount="{before["available"]}"' in html
    assert f'data-testid="balance-processing" data-amount="{before["processing"]}"' in html
    assert "No withdrawals yet." in html
    assert "/payouts/" in client.get("/").get_data(as_text=True)  # the home screen's "Withdraw" shortcut


def test_merchant_who_is_not_a_bank_client_is_told_why(client, auth, owner):
    owner.merchant.is_bank_client = False
    db.session.commit()
    response = client.get("/payouts/")
    assert 'data-testid="payout-unavailable"' in response.get_data(as_text=True)
    assert "only for clients of the Bank" in response.get_data(as_text=True)
    assert 'data-testid="payout-amount"' not in response.get_data(as_text=True)
    assert ask(client, auth, "10").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_cashiers_may_not_withdraw(client, auth, demo):
    auth.login("cashier")
    assert client.get("/payouts/").status_code == 403
    assert client.post("/payouts/", data={"amount": "1", "csrf_token": auth.csrf("/")}).status_code == 403
    assert 'href="/payouts/"' not in client.get("/").get_data(as_text=True)


def test_anonymous_is_sent_to_sign_in(client, demo):
    response = client.get("/payouts/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_merchants_payout_is_not_found(client, auth, owner, make_other_owner):
    payout = requested(client, auth, "10")
    auth.logout()
    auth.login(make_other_owner.login, "other-pass-1")
    assert client.get(f"/payouts/{payout.public_id}/confirm").status_code == 404
    assert confirm(client, auth, payout, "0000").status_code == 404


@pytest.fixture
def make_other_owner(app):
    from datetime import date

    from mkassa.models import Merchant, User
    from mkassa.services.auth import hash_password
    merchant = Merchant(legal_name="Other", display_name="Other", inn="01234567890123", mcc="5411",
                        account_number="999", bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1),
                        is_bank_client=True, mbank_phone="+996700000001")
    db.session.add(merchant)
    db.session.flush()
    user = User(merchant_id=merchant.id, role="owner", login="other", name="O", phone="+996700000001",
                password_hash=hash_password("other-pass-1"))
    db.session.add(user)
    db.session.commit()
    return user


# ------------------------------------------------------------------------------------ the amount


@pytest.mark.parametrize("typed, message", [
    ("", "Enter an amount"),
    ("0", "greater than zero"),
    ("-5", "greater than zero"),
    ("12.345", "at most two digits"),  # in English "12,345" is 12 345 som
    ("abc", "in digits"),
])
def test_bad_amounts_are_refused_next_to_the_field(client, auth, owner, typed, message):
    response = ask(client, auth, typed)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="amount-error"' in html and message in html
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_amount_up_to_the_available_balance_and_not_a_tyiyn_more(client, auth, owner):
    available = balances(owner.merchant.id)["available"]
    response = ask(client, auth, som(available + 1))
    assert response.status_code == 422
    assert "Not enough money available" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert requested(client, auth, som(available)).amount == available


# ------------------------------------------------------------------------------------ the flow


def test_withdrawal_reserves_at_once_and_completes_after_the_sandbox_delay(app, client, auth, owner):
    mid = owner.merchant.id
    before = balances(mid)
    payout = requested(client, auth, "100")
    assert payout.status == "requested" and balances(mid) == before  # nothing moves before the code
    response = confirm(client, auth, payout, last_code())
    assert response.status_code == 303
    success = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="payout-success"' in success and "Success!" in success
    after = balances(mid)
    assert after["available"] == before["available"] - 10_000
    assert after["payout_pending"] == before["payout_pending"] + 10_000
    assert ledger.total_sum() == 0
    # The Bank is asked through the outbox, after the commit: nothing has reached it yet.
    assert db.session.scalar(select(func.count()).select_from(SandboxBankPayout)) == 0
    assert reload(payout).status == "confirmed"
    outbox.dispatch_due()
    assert reload(payout).status == "pending"
    bank = db.session.scalar(select(SandboxBankPayout))
    assert (bank.payout_id, bank.amount, bank.mbank_phone) == (payout.public_id, 10_000, owner.merchant.mbank_phone)
    delay = app.extensions["mkassa.settings"].sandbox_payout_seconds
    with time_machine.travel(bank.requested_at + timedelta(seconds=delay - 1), tick=False):
        jobs.run_all()
    assert reload(payout).status == "pending"
    with time_machine.travel(bank.requested_at + timedelta(seconds=delay), tick=False):
        jobs.run_all()
    assert reload(payout).status == "succeeded"
    done = balances(mid)
    # (The sandbox's settlement job also ran: it may have moved money from processing to available.)
    assert done["payout_pending"] == before["payout_pending"]
    assert done["available"] + done["processing"] == after["available"] + after["processing"]
    assert ledger.get_account("bank_payouts", spread=payout.id).balance == 10_000  # the Bank row it picks
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()
    assert 'data-status="succeeded"' in client.get("/payouts/").get_data(as_text=True)


def test_sandbox_fails_an_amount_ending_in_13_tyiyn_and_the_money_comes_back(app, client, auth, owner):
    mid = owner.merchant.id
    before = balances(mid)
    payout = requested(client, auth, "50,13")
    confirm(client, auth, payout, last_code())
    outbox.dispatch_due()
    with time_machine.travel(utcnow() + timedelta(seconds=app.extensions["mkassa.settings"].sandbox_payout_seconds)):
        jobs.run_all()
    assert reload(payout).status == "failed"
    after = balances(mid)
    assert after["payout_pending"] == before["payout_pending"] and ledger.total_sum() == 0
    assert after["available"] + after["processing"] == before["available"] + before["processing"]
    assert transfers(f"payout:{payout.public_id}") == [f"payout:{payout.public_id}:reserve",
                                                       f"payout:{payout.public_id}:void"]
    html = client.get(f"/payouts/{payout.public_id}").get_data(as_text=True)
    assert "available again" in html and 'data-testid="payout-success"' not in html


def test_wrong_code_changes_nothing_and_three_tries_use_the_code_up(client, auth, owner):
    mid = owner.merchant.id
    before = balances(mid)
    payout = requested(client, auth, "10")
    code = last_code()
    wrong = f"{(int(code) + 1) % 10000:04d}"
    for _ in range(otp.MAX_TRIES - 1):
        response = confirm(client, auth, payout, wrong)
        assert response.status_code == 422 and "Wrong or expired code." in response.get_data(as_text=True)
    assert reload(payout).status == "requested" and balances(mid) == before
    assert confirm(client, auth, payout, code).status_code == 303  # the last try is still the right one
    second = requested(client, auth, "10")
    code = last_code()
    for _ in range(otp.MAX_TRIES):
        confirm(client, auth, second, wrong)
    assert confirm(client, auth, second, code).status_code == 422
    assert reload(second).status == "requested"
    assert balances(mid)["available"] == before["available"] - 1000


def test_code_lives_five_minutes(client, auth, owner):
    issued = utcnow()
    with time_machine.travel(issued, tick=False):
        first = requested(client, auth, "10")
        first_code = last_code()
        second = requested(client, auth, "11")
        second_code = last_code()
    with time_machine.travel(issued + timedelta(seconds=otp.CODE_LIFETIME_SECONDS - 1), tick=False):
        assert confirm(client, auth, first, first_code).status_code == 303
    with time_machine.travel(issued + timedelta(seconds=otp.CODE_LIFETIME_SECONDS), tick=False):
        assert confirm(client, auth, second, second_code).status_code == 422
        assert reload(second).status == "requested"
        # A new code for it works again.
        client.post(f"/payouts/{second.public_id}/resend", data={"csrf_token": auth.csrf("/payouts/")})
        assert confirm(client, auth, second, last_code()).status_code == 303


def test_a_new_code_supersedes_the_old_one(client, auth, owner):
    payout = requested(client, auth, "10")
    old = last_code()
    assert client.post(f"/payouts/{payout.public_id}/resend",
                       data={"csrf_token": auth.csrf("/payouts/")}).status_code == 303
    new = last_code()
    if old != new:
        assert confirm(client, auth, payout, old).status_code == 422
    assert confirm(client, auth, payout, new).status_code == 303


def test_a_code_for_one_withdrawal_cannot_confirm_another(client, auth, owner):
    mid = owner.merchant.id
    first = requested(client, auth, "10")
    first_code = last_code()
    second = requested(client, auth, "10")  # same amount, so only the withdrawal tells them apart
    before = balances(mid)
    assert confirm(client, auth, second, first_code).status_code in (422, 303)
    if reload(second).status != "requested":  # 1 in 10 000: its own code happens to be the same digits
        assert last_code() == first_code
        return
    assert balances(mid) == before
    assert confirm(client, auth, first, first_code).status_code == 303


def test_replayed_confirmation_with_the_same_idempotency_key_is_one_payout(client, auth, owner):
    mid = owner.merchant.id
    before = balances(mid)
    payout = requested(client, auth, "10")
    code = last_code()
    key = {"Idempotency-Key": "confirm-" + uuid.uuid4().hex}
    csrf = auth.csrf("/payouts/")  # a replay resends the very same body
    first = confirm(client, auth, payout, code, key, csrf)
    again = confirm(client, auth, payout, code, key, csrf)
    assert first.status_code == again.status_code == 303
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert confirm(client, auth, payout, code).status_code == 303  # even without the key: confirmed already
    assert transfers(f"payout:{payout.public_id}") == [f"payout:{payout.public_id}:reserve"]
    assert balances(mid)["available"] == before["available"] - 1000
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "payout.request")) == 1


def test_two_withdrawals_cannot_together_take_more_than_is_available(client, auth, owner):
    mid = owner.merchant.id
    available = balances(mid)["available"]
    half_and_more = som(available // 2 + 1)
    first = requested(client, auth, half_and_more)
    first_code = last_code()
    second = requested(client, auth, half_and_more)
    second_code = last_code()
    assert confirm(client, auth, first, first_code).status_code == 303
    response = confirm(client, auth, second, second_code)
    assert response.status_code == 422 and "Not enough money available" in response.get_data(as_text=True)
    assert reload(second).status == "requested"
    assert balances(mid)["available"] == available - (available // 2 + 1)
    assert ledger.total_sum() == 0


# ------------------------------------------------------------------------------------ the Bank's word


@pytest.fixture
def in_flight(client, auth, owner) -> Payout:
    payout = requested(client, auth, "20")
    confirm(client, auth, payout, last_code())
    outbox.dispatch_due()
    return reload(payout)


def test_payout_succeeded_webhook_posts_once(client, owner, in_flight):
    mid = owner.merchant.id
    before = balances(mid)
    assert post_event(client, "payout.succeeded", in_flight, "msg_payout_1").get_json() == {"outcome": "processed"}
    assert post_event(client, "payout.succeeded", in_flight, "msg_payout_1").get_json() == {"outcome": "duplicate"}
    assert post_event(client, "payout.succeeded", in_flight).get_json() == {"outcome": "duplicate"}
    contrary = post_event(client, "payout.failed", in_flight, reason="late")
    assert contrary.status_code == 422
    payout = reload(in_flight)
    assert (payout.status, payout.bank_ref) == ("succeeded", "REF-1")
    after = balances(mid)
    assert after["payout_pending"] == before["payout_pending"] - 2000 and after["available"] == before["available"]
    assert transfers(f"payout:{payout.public_id}:paid") == [f"payout:{payout.public_id}:paid"]
    assert db.session.scalar(select(BankWebhookEvent.outcome).where(BankWebhookEvent.reason.contains("already"))) \
        == "mismatch"
    assert ledger.total_sum() == 0


def test_payout_failed_webhook_returns_the_money(client, owner, in_flight):
    mid = owner.merchant.id
    before = balances(mid)
    assert post_event(client, "payout.failed", in_flight, reason="Wallet closed").status_code == 200
    payout = reload(in_flight)
    assert (payout.status, payout.failure_reason) == ("failed", "Wallet closed")
    assert balances(mid)["available"] == before["available"] + 2000
    assert post_event(client, "payout.succeeded", in_flight).status_code == 422
    assert balances(mid)["available"] == before["available"] + 2000 and ledger.total_sum() == 0


def test_webhook_for_an_unknown_or_unconfirmed_payout_is_a_recorded_mismatch(client, auth, owner):
    unconfirmed = requested(client, auth, "10")
    for payout in (unconfirmed, Payout(public_id="01J00000000000000000000000")):
        assert post_event(client, "payout.succeeded", payout).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(BankWebhookEvent)
                             .where(BankWebhookEvent.outcome == "mismatch")) == 2
    assert transfers("payout:") == []


def test_payout_pending_after_ten_minutes_is_flagged_and_repaired_from_the_bank(client, owner, in_flight):
    bank = db.session.scalar(select(SandboxBankPayout))
    # The Bank paid it, but its notification was lost (the sandbox's own delivery is not due yet).
    bank.status = "succeeded"
    bank.due_at = utcnow() + timedelta(days=1)
    db.session.commit()
    confirmed_at = in_flight.confirmed_at
    assert payouts.reconcile_overdue_payouts(confirmed_at + timedelta(seconds=payouts.OVERDUE_SECONDS - 1)) == 0
    db.session.commit()
    assert not reload(in_flight).flagged_overdue
    assert payouts.reconcile_overdue_payouts(confirmed_at + timedelta(seconds=payouts.OVERDUE_SECONDS)) == 1
    payout = reload(in_flight)
    assert (payout.status, payout.flagged_overdue) == ("succeeded", True)
    assert ledger.total_sum() == 0


def test_overdue_payout_the_bank_has_not_finished_stays_flagged_and_is_asked_again_later(client, owner, in_flight):
    start = in_flight.confirmed_at + timedelta(seconds=payouts.OVERDUE_SECONDS)
    db.session.execute(SandboxBankPayout.__table__.update().values(due_at=start + timedelta(days=1)))
    db.session.commit()
    assert payouts.reconcile_overdue_payouts(start) == 1
    db.session.commit()
    payout = reload(in_flight)
    assert (payout.status, payout.flagged_overdue) == ("pending", True)
    assert payouts.reconcile_overdue_payouts(start + timedelta(seconds=payouts.RECHECK_SECONDS - 1)) == 0
    assert payouts.reconcile_overdue_payouts(start + timedelta(seconds=payouts.RECHECK_SECONDS)) == 1
    db.session.commit()


def test_a_payout_the_outbox_gave_up_on_is_asked_for_again_once_the_bank_is_back(client, auth, owner, monkeypatch):
    from .test_refunds import bank_down_until_the_outbox_gives_up
    payout = requested(client, auth, "20")
    confirm(client, auth, payout, last_code())
    bank_down_until_the_outbox_gives_up(monkeypatch, "request_payout")
    request = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "payout.request"))
    assert request.status == "dead" and reload(payout).status == "confirmed"

    later = reload(payout).confirmed_at + timedelta(seconds=payouts.OVERDUE_SECONDS)
    assert payouts.reconcile_overdue_payouts(later) == 1
    assert outbox.dispatch_due() == 1
    assert reload(payout).status == "pending"
    assert payouts.reconcile_overdue_payouts(later + timedelta(seconds=payouts.RECHECK_SECONDS)) == 1
    assert outbox.dispatch_due() == 0  # taken now: nothing is revived twice
    assert db.session.scalar(select(func.count()).select_from(SandboxBankPayout)) == 1
    assert reload(payout).flagged_overdue  # operators still see that it was late


def test_status_fragment_polls_until_final(client, owner, in_flight):
    fragment = client.get(f"/payouts/{in_flight.public_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="pending"' in fragment and "every 2s" in fragment
    post_event(client, "payout.succeeded", in_flight)
    fragment = client.get(f"/payouts/{in_flight.public_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-status="succeeded"' in fragment and "hx-get" not in fragment


def test_history_lists_confirmed_withdrawals_with_their_status(client, auth, owner, in_flight):
    requested(client, auth, "5")  # waiting for its code: not a withdrawal yet
    html = client.get("/payouts/").get_data(as_text=True)
    assert html.count('data-testid="payout-row"') == 1
    assert f'data-payout="{in_flight.public_id}"' in html and 'data-status="pending"' in html


def test_the_merchant_and_the_console_name_a_payout_status_alike(app, client, owner, admin_user, in_flight):
    post_event(client, "payout.succeeded", in_flight)
    merchant_html = client.get("/payouts/").get_data(as_text=True)
    operator = app.test_client()
    Auth(operator).login("operator", "operator-pass-1")
    console_html = operator.get("/admin/payouts").get_data(as_text=True)
    for html in (merchant_html, console_html):
        assert ">Paid out</span>" in html and "Completed" not in html


def test_a_late_step_never_moves_a_finished_payout_back(client, owner, in_flight):
    """The Bank answered before the order was marked taken: the guarded move to "pending" finds nothing."""
    post_event(client, "payout.failed", in_flight, reason="Wallet closed")
    db.session.commit()
    assert payouts._move(in_flight.public_id, PayoutStatus.PENDING) is False
    assert payouts._move(in_flight.public_id, PayoutStatus.CONFIRMED) is False
    assert reload(in_flight).status == "failed"


def test_the_database_refuses_a_status_the_enum_does_not_know(client, owner, in_flight):
    with pytest.raises(IntegrityError):
        db.session.execute(update(Payout).where(Payout.id == in_flight.id).values(status="paid"))
        db.session.flush()
    db.session.rollback()
    assert reload(in_flight).status == "pending"


def test_sms_names_amount_and_wallet_and_is_never_kept(client, auth, owner):
    requested(client, auth, "1 234,50")
    db.session.commit()
    text = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")).payload["text"]
    assert "234,50" in text and owner.merchant.mbank_phone in text
    outbox.dispatch_due()
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")).payload["text"] == "[delivered]"


def test_request_payout_is_idempotent_by_payout_id(app, owner):
    from mkassa.gateways import corebank
    # Each call like the outbox handler makes it: no transaction open (the suite's instrument checks).
    corebank.request_payout("01JPAYOUT00000000000000000", "+996555123456", 500)
    db.session.commit()
    corebank.request_payout("01JPAYOUT00000000000000000", "+996555123456", 500)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(SandboxBankPayout)) == 1
    db.session.commit()
    assert corebank.find_payout("01JPAYOUT00000000000000000").status == "processing"
    db.session.commit()
    assert corebank.find_payout("01JNOSUCHPAYOUT00000000000") is None


def test_timestamps_are_recorded(owner, in_flight, client):
    post_event(client, "payout.succeeded", in_flight)
    payout = reload(in_flight)
    assert payout.created_at <= payout.confirmed_at <= payout.finished_at
    assert isinstance(payout.finished_at, datetime) and payout.finished_at.tzinfo == timezone.utc
