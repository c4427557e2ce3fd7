"""Refunds under concurrency (issue #17): many taps on one refund's "Confirm", refunds racing withdrawals.

Each confirmation runs through the service layer in its own thread, app context and database
transaction, as that many requests would (PostgreSQL: row locks and the ledger's guarded UPDATE under
the CHECK constraint; SQLite: BEGIN IMMEDIATE).
"""
from __future__ import annotations

import threading
import types
from datetime import date

import pytest
from sqlalchemy import func, select

from mkassa import SQLITE_IMMEDIATE
from mkassa.extensions import db
from mkassa.models import LedgerTransfer, Merchant, OutboxMessage, Payment, Payout, Refund, User, utcnow
from mkassa.models.ledger import REFUND_PENDING
from mkassa.services import ServiceError, ledger, otp, payments, payouts, refunds

TAPS = 100
RACERS = 20  # refunds and withdrawals each
SHARE = 1_000
CODE = "1234"


@pytest.fixture
def owner(app, monkeypatch):
    """A bank-client owner with one paid, settled payment of RACERS // 2 * SHARE tyiyn: all he has."""
    monkeypatch.setattr(otp, "MAX_CODES_PER_HOUR", 10 * TAPS)
    monkeypatch.setattr(otp, "secrets", types.SimpleNamespace(randbelow=lambda _n: int(CODE)))
    merchant = Merchant(legal_name="L", display_name="D", inn="01234567890123", mcc="5411", account_number="1",
                        bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1), is_bank_client=True,
                        mbank_phone="+996555000111")
    db.session.add(merchant)
    db.session.flush()
    user = User(merchant_id=merchant.id, role="owner", login="race", name="R", phone="+996555000111",
                password_hash="not-used")
    db.session.add(user)
    ledger.open_merchant_accounts(merchant.id)
    payment = Payment(merchant_id=merchant.id, method="qr", amount=RACERS // 2 * SHARE, status="succeeded",
                      paid_at=utcnow())
    db.session.add(payment)
    db.session.flush()
    payments.credit(payment)
    payments.settle(payment)
    db.session.commit()
    return user, payment


def race(app, calls) -> list[str]:
    """Run every call at once, each in its own thread and transaction; 'done' or the error's class name."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call) -> None:
        barrier.wait()
        with app.app_context():
            try:
                call()
                db.session.commit()
                outcomes.append("done")
            except ServiceError as exc:
                db.session.rollback()
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.slow  # threads racing
def test_many_confirmations_of_one_refund_reserve_it_once(app, owner):
    user, payment = owner
    refund_id = refunds.request_refund(user, payment, "10").id
    db.session.commit()
    user_id, merchant_id = user.id, user.merchant_id

    def confirm():
        refunds.confirm(db.session.get(User, user_id), db.session.get(Refund, refund_id), CODE)

    outcomes = race(app, [confirm] * TAPS)
    # One confirms it; the others see it confirmed, or find its code already used: nothing more happens.
    assert set(outcomes) <= {"done", "WrongCode", "Locked"} and "done" in outcomes
    db.session.commit()
    assert db.session.get(Refund, refund_id).status == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(LedgerTransfer)
                             .where(LedgerTransfer.kind == "refund_reserve")) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "refund.request")) == 1
    assert ledger.balances(merchant_id)[REFUND_PENDING] == 1_000
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()


@pytest.mark.slow  # threads racing
def test_refunds_racing_withdrawals_never_overdraw(app, owner):
    user, payment = owner
    available = ledger.balances(user.merchant_id)["available"]
    # Asked before any is confirmed: each alone fits, together they are twice what there is.
    refund_ids = [refunds.request_refund(user, payment, "10").id for _ in range(RACERS)]
    payout_ids = [payouts.request_withdrawal(user, "10").id for _ in range(RACERS)]
    db.session.commit()
    user_id, merchant_id, payment_id = user.id, user.merchant_id, payment.id
    lowest: list[int] = []
    done = threading.Event()

    def watch() -> None:
        SQLITE_IMMEDIATE.set(False)  # reads only: no write lock on SQLite
        with app.app_context():
            while not done.is_set():
                lowest.append(min(ledger.balances(merchant_id).values()))
                db.session.rollback()
                done.wait(0.005)
            db.session.remove()

    def refund(refund_id):
        return lambda: refunds.confirm(db.session.get(User, user_id), db.session.get(Refund, refund_id), CODE)

    def payout(payout_id):
        return lambda: payouts.confirm(db.session.get(User, user_id), db.session.get(Payout, payout_id), CODE)

    calls = [refund(i) for i in refund_ids] + [payout(i) for i in payout_ids]
    watcher = threading.Thread(target=watch)
    watcher.start()
    outcomes = race(app, calls)
    done.set()
    watcher.join()

    assert outcomes.count("done") == available // SHARE
    assert set(outcomes) == {"done", "Invalid"}
    db.session.commit()
    balances = ledger.balances(merchant_id)
    assert balances["available"] == 0 and min(lowest) >= 0
    assert balances[REFUND_PENDING] + balances["payout_pending"] == available
    counted = db.session.scalar(select(func.coalesce(func.sum(Refund.amount), 0))
                                .where(Refund.payment_id == payment_id, Refund.status == "confirmed"))
    assert counted <= payment.amount
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()
