"""The ledger: balanced, posted once, never below zero, money conserved."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from mkassa.extensions import db
from mkassa.models import LedgerAccount, LedgerEntry, LedgerTransfer, Merchant, Payment, utcnow
from mkassa.models.ledger import BANK_STRIPES
from mkassa.services import ledger, payments


@pytest.fixture
def merchant(app):
    from datetime import date
    m = Merchant(legal_name="L", display_name="D", inn="01234567890123", mcc="5411", account_number="1",
                 bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1))
    db.session.add(m)
    db.session.flush()
    ledger.open_merchant_accounts(m.id)
    db.session.commit()
    return m


def _receive(merchant, code, amount):
    return ledger.post(code, "payment", [(ledger.get_account("bank_incoming"), -amount),
                                         (ledger.get_account("processing", merchant.id), amount)],
                       merchant_id=merchant.id)


def test_unbalanced_transfer_is_refused(merchant):
    with pytest.raises(ledger.UnbalancedTransfer):
        ledger.post("x", "payment", [(ledger.get_account("bank_incoming"), -5),
                                     (ledger.get_account("processing", merchant.id), 4)])


def test_a_code_is_posted_once(merchant):
    assert _receive(merchant, "payment:a", 500) is not None
    assert _receive(merchant, "payment:a", 500) is None
    db.session.commit()
    assert ledger.balances(merchant.id)["processing"] == 500
    assert db.session.scalar(select(func.count()).select_from(LedgerTransfer)) == 1


def test_overdraft_is_refused_by_the_database_and_undone_whole(merchant):
    _receive(merchant, "payment:b", 300)
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post("settle:too-much", "settlement", [(ledger.get_account("processing", merchant.id), -301),
                                                      (ledger.get_account("available", merchant.id), 301)])
    db.session.commit()
    assert ledger.balances(merchant.id) == {"processing": 300, "available": 0, "payout_pending": 0}
    assert db.session.scalar(select(func.count()).select_from(LedgerTransfer)) == 1
    assert ledger.total_sum() == 0


def test_accounts_of_a_transfer_are_read_together_in_order_and_made_on_first_use(merchant):
    # A fresh database has no Bank account yet: the first credit makes it, like get_account.
    bank, processing = ledger.get_accounts(("bank_incoming", None), ("processing", merchant.id))
    available, again = ledger.get_accounts(("available", merchant.id), ("bank_incoming", None))
    assert (bank.code, processing.code, available.code) == ("bank:bank_incoming", f"m{merchant.id}:processing",
                                                             f"m{merchant.id}:available")
    assert again is bank and processing is ledger.get_account("processing", merchant.id)
    with pytest.raises(ledger.LedgerError):  # a merchant kind without a merchant
        ledger.get_accounts(("bank_incoming", None), ("processing", None))


def _shop(n: int) -> Merchant:
    m = Merchant(legal_name=f"Shop {n}", display_name=f"Shop {n}", inn=f"0123456789{n:04d}", mcc="5411",
                 account_number=str(n), bank_name="B", bank_bic="1", account_opened_on=date(2024, 1, 1))
    db.session.add(m)
    db.session.flush()
    ledger.open_merchant_accounts(m.id)
    return m


def _paid(merchant, amount: int) -> Payment:
    payment = Payment(merchant_id=merchant.id, method="qr", amount=amount, status="succeeded", paid_at=utcnow())
    db.session.add(payment)
    db.session.flush()
    return payment


def test_the_bank_side_of_credits_is_spread_over_its_rows_and_they_sum_as_one_account(merchant):
    received = [_paid(merchant, 100 + n) for n in range(BANK_STRIPES + 1)]
    for payment in received:
        payments.credit(payment)
    db.session.commit()
    rows = db.session.execute(select(LedgerAccount.code, LedgerAccount.balance)
                              .where(LedgerAccount.kind == "bank_incoming")).all()
    # BANK_STRIPES + 1 consecutive payments: every row used, the first one twice.
    assert sorted(code for code, _ in rows) == sorted(
        ["bank:bank_incoming", *(f"bank:bank_incoming:{n}" for n in range(1, BANK_STRIPES))])
    assert sum(balance for _, balance in rows) == -sum(p.amount for p in received)
    assert ledger.balances(merchant.id)["processing"] == sum(p.amount for p in received)
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()


def test_two_shops_credits_do_not_wait_for_each_other(app, merchant):
    """Every payment moves a Bank balance: in one row, a shop's credit waited for every other shop's
    credit to commit. A credit held open in one transaction now leaves another shop's credit free."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: needs --db=postgresql")
    first, second = _paid(merchant, 500), _paid(_shop(2), 700)
    db.session.commit()
    second_id = second.id
    payments.credit(first)
    db.session.flush()  # the first shop's credit: its rows locked until this transaction ends
    outcome: list[str] = []

    def other_shop() -> None:
        with app.app_context():
            db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
            try:
                payments.credit(db.session.get(Payment, second_id))
                db.session.commit()
                outcome.append("credited")
            except Exception as exc:  # waited past lock_timeout: the credit queued behind the first
                db.session.rollback()
                outcome.append(type(exc).__name__)
            finally:
                db.session.remove()

    thread = threading.Thread(target=other_shop)
    thread.start()
    thread.join(30)
    db.session.commit()
    assert outcome == ["credited"]
    assert ledger.total_sum() == 0 and ledger.entries_sum_matches_balances()


def test_a_balance_read_after_an_enclosing_savepoint_rolled_back_is_the_database_s(merchant):
    """A post inside a savepoint that the caller then rolls back (a crash while confirming a payout):
    the account read through the session afterwards has the database's balance, not the undone one."""
    from mkassa.models import LedgerAccount
    _receive(merchant, "payment:kept", 700)
    processing = ledger.get_account("processing", merchant.id)
    assert processing.balance == 700
    outer = db.session.begin_nested()
    ledger.post("settle:undone", "settlement", [(processing, -300), (ledger.get_account("available", merchant.id), 300)])
    outer.rollback()
    stored = db.session.scalar(select(LedgerAccount.balance).where(LedgerAccount.id == processing.id))
    assert processing.balance == stored == 700
    assert ledger.entries_sum_matches_balances()


operations = st.lists(st.tuples(st.sampled_from(["receive", "settle", "withdraw"]), st.integers(1, 10**9),
                                st.integers(0, 5)), min_size=1, max_size=25)


# Each example uses the database: 40 under the `ci` profile, 8 under `dev` (tests/conftest.py).
@settings(max_examples=settings().max_examples * 2 // 5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_random_operations_conserve_money(merchant, ops):
    """Against a plain model: balances match, none is negative, the sum over all accounts is zero."""
    db.session.execute(LedgerEntry.__table__.delete())
    db.session.execute(LedgerTransfer.__table__.delete())
    from mkassa.models import LedgerAccount
    db.session.execute(LedgerAccount.__table__.update().values(balance=0))
    model = {"processing": 0, "available": 0, "payout_pending": 0}
    moves = {"receive": (None, "processing"), "settle": ("processing", "available"),
             "withdraw": ("available", "payout_pending")}
    for n, (op, amount, replay) in enumerate(ops):
        source, target = moves[op]
        code = f"{op}:{n - replay if replay <= n else n}"
        legs = [(ledger.get_account(target, merchant.id), amount),
                (ledger.get_account(source, merchant.id) if source else ledger.get_account("bank_incoming"), -amount)]
        already = db.session.scalar(select(LedgerTransfer.id).where(LedgerTransfer.code == code)) is not None
        try:
            posted = ledger.post(code, op, legs, merchant_id=merchant.id)
        except ledger.InsufficientFunds:
            assert source and model[source] < amount
            continue
        if already:
            assert posted is None
            continue
        if source:
            model[source] -= amount
        model[target] += amount
        assert ledger.balances(merchant.id) == model
        assert ledger.total_sum() == 0
    assert ledger.entries_sum_matches_balances()
    assert all(value >= 0 for value in ledger.balances(merchant.id).values())
    db.session.rollback()
