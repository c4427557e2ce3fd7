"""Issue #19: a shop's shared rows (balances, rollup counters) written last, and still exactly right."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event as sa_event, select

from mkassa.extensions import db
from mkassa.models import Payment, utcnow
from mkassa.services import hotrows, ledger, payments, rollup

from .test_pay_qr import new_payment, post_event, succeeded

# What every other payment of the shop waits for once it is written (its row lock).
HOT = re.compile(r"\s*(INSERT INTO payment_day|INSERT INTO payment_hour|UPDATE ledger_account SET balance)")


class Boom(Exception):
    pass


def _pending(demo, amount: int = 500) -> Payment:
    payment = Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id, cashier_id=demo.cashier.id,
                      method="qr", link_type="dynamic", amount=amount, currency="417", status="pending",
                      created_at=utcnow())
    db.session.add(payment)
    return payment


def _exact(merchant_id: int, processing: int) -> None:
    """Rollups equal their payments, balances their entries, the ledger sums to zero."""
    db.session.commit()
    assert rollup.differences(db.session) == []
    assert ledger.entries_sum_matches_balances() and ledger.total_sum() == 0
    assert ledger.balances(merchant_id)["processing"] == processing


def test_a_webhook_writes_the_shop_s_shared_rows_last(client, demo):
    """After its first write to a shared row, a webhook's ingest sends only the other shared writes
    before COMMIT: no read, savepoint or other row while the shop's other payments wait."""
    payment = new_payment(demo.cashier)
    before = ledger.balances(demo.merchant.id)["processing"]
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert post_event(client, succeeded(payment)).json["outcome"] == "processed"
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    first = next(n for n, statement in enumerate(sent) if HOT.match(statement))
    tail = [statement.split("(")[0].strip() for statement in sent[first:]]
    assert tail == ["INSERT INTO payment_day", "INSERT INTO payment_hour", "UPDATE ledger_account SET balance="]
    _exact(demo.merchant.id, before + payment.amount)


def test_held_writes_go_out_when_the_block_ends(app, demo):
    before = ledger.balances(demo.merchant.id)["processing"]
    with hotrows.last():
        payment = _pending(demo)
        db.session.flush()
        payments.credit(payment)
        with hotrows.last():  # an inner block adds to the outer one
            second = _pending(demo, 700)
            db.session.flush()
            payments.credit(second)
        # Nothing of the shared rows is written yet: balances still read as before.
        assert db.session.scalar(select(ledger.LedgerAccount.balance).where(
            ledger.LedgerAccount.code == f"m{demo.merchant.id}:processing")) == before
    _exact(demo.merchant.id, before + 500 + 700)


def test_a_savepoint_rolled_back_in_the_block_takes_its_held_writes(app, demo):
    before = ledger.balances(demo.merchant.id)["processing"]
    with hotrows.last():
        kept = _pending(demo, 300)
        db.session.flush()
        payments.credit(kept)
        with pytest.raises(Boom):
            with db.session.begin_nested():
                undone = _pending(demo, 900)
                db.session.flush()
                payments.credit(undone)
                undone_code = f"payment:{undone.public_id}"
                raise Boom
    _exact(demo.merchant.id, before + 300)
    assert db.session.scalar(select(ledger.LedgerTransfer).where(ledger.LedgerTransfer.code == undone_code)) is None


def test_a_failed_block_writes_nothing_and_its_work_cannot_be_committed(app, demo):
    before = ledger.balances(demo.merchant.id)["processing"]
    with pytest.raises(Boom):
        with hotrows.last():
            payment = _pending(demo)
            db.session.flush()
            payments.credit(payment)
            raise Boom
    # The payment and its transfer are flushed, their shared rows are not: committing would lose them.
    with pytest.raises(RuntimeError, match="held"):
        db.session.commit()
    db.session.rollback()
    _exact(demo.merchant.id, before)
    with hotrows.last():  # the rollback took what was held: the next block starts clean
        payment = _pending(demo, 200)
        db.session.flush()
        payments.credit(payment)
    _exact(demo.merchant.id, before + 200)


def test_a_commit_inside_the_block_is_refused(app, demo):
    with pytest.raises(RuntimeError, match="held"):
        with hotrows.last():
            _pending(demo)
            db.session.flush()
            db.session.commit()
    db.session.rollback()
    assert rollup.differences(db.session) == []


def test_an_overdraft_in_the_block_is_raised_as_it_ends(app, demo):
    balances = ledger.balances(demo.merchant.id)
    processing, available = ledger.get_accounts(("processing", demo.merchant.id), ("available", demo.merchant.id))
    amount = balances["processing"] + 1
    with pytest.raises(ledger.InsufficientFunds, match="settle:too-much"):
        with hotrows.last():
            assert ledger.post("settle:too-much", "settlement", [(processing, -amount), (available, amount)],
                               merchant_id=demo.merchant.id) is not None  # not refused yet
    db.session.rollback()
    assert ledger.balances(demo.merchant.id) == balances
