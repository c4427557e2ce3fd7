"""200 owners' taps at once on "Confirm" against a balance that covers one withdrawal: exactly one goes through.

Each confirmation runs through the service layer in its own thread, app context and database
transaction, as 200 requests would; the reservation is the ledger's guarded UPDATE under the CHECK
constraint (PostgreSQL) or BEGIN IMMEDIATE (SQLite), never a balance read and written back in Python.
"""
from __future__ import annotations

import threading
import types
from datetime import date

import pytest
from sqlalchemy import func, select

from mkassa import SQLITE_IMMEDIATE
from mkassa.extensions import db
from mkassa.models import LedgerTransfer, Merchant, OutboxMessage, Payment, Payout, User
from mkassa.services import ServiceError, ledger, otp, payments, payouts

CONFIRMATIONS = 200
REPETITIONS = 20
AMOUNT = 10_000
CODE = "1234"


@pytest.fixture
def owner(app, monkeypatch):
    """A bank-client owner with AMOUNT * 2 - 1 tyiyn available: enough for one withdrawal, not two."""
    # Many codes for one phone within the hour, all the same digits: the SMS limits are not under test.
    monkeypatch.setattr(otp, "MAX_CODES_PER_HOUR", CONFIRMATIONS + 1)
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
    payment = Payment(merchant_id=merchant.id, method="qr", amount=AMOUNT * 2 - 1, status="succeeded")
    db.session.add(payment)
    db.session.flush()
    payments.credit(payment)
    payments.settle(payment)
    db.session.commit()
    return user


@pytest.mark.slow  # threads racing, many repetitions
@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_concurrent_confirmations_reserve_exactly_once(app, owner, repetition):
    ids = [payouts.request_withdrawal(owner, "100").id for _ in range(CONFIRMATIONS)]
    db.session.commit()
    merchant_id, user_id = owner.merchant_id, owner.id
    barrier = threading.Barrier(CONFIRMATIONS)
    outcomes: list[str] = []
    lowest: list[int] = []
    done = threading.Event()

    def confirm(payout_id: int) -> None:
        barrier.wait()
        with app.app_context():
            try:
                payouts.confirm(db.session.get(User, user_id), db.session.get(Payout, payout_id), CODE)
                db.session.commit()
                outcomes.append("reserved")
            except ServiceError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    def watch() -> None:
        # Reads only, so on SQLite it must not take the write lock.
        SQLITE_IMMEDIATE.set(False)
        with app.app_context():
            while not done.is_set():
                lowest.append(ledger.balances(merchant_id)["available"])
                db.session.rollback()
                done.wait(0.005)
            db.session.remove()

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=confirm, args=(payout_id,)) for payout_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()

    assert sorted(outcomes) == ["refused"] * (CONFIRMATIONS - 1) + ["reserved"]
    db.session.commit()
    statuses = db.session.execute(select(Payout.status, func.count()).group_by(Payout.status)).all()
    assert dict(statuses) == {"confirmed": 1, "requested": CONFIRMATIONS - 1}
    assert ledger.balances(merchant_id) == {"processing": 0, "available": AMOUNT - 1, "payout_pending": AMOUNT}
    assert min(lowest) >= 0
    assert db.session.scalar(select(func.count()).select_from(LedgerTransfer)
                             .where(LedgerTransfer.kind == "payout_reserve")) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "payout.request")) == 1
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()
