"""One amount ceiling for every payment kind (#12.5): the webhook refuses more, the databases too."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from mkassa.extensions import db
from mkassa.models import (BankWebhookEvent, LedgerAccount, LedgerEntry, LedgerTransfer, Payment, PaymentDay,
                           Payout, SandboxBankPayment, SandboxBankPayout, utcnow)
from mkassa.money import MAX_AMOUNT, MAX_BALANCE
from mkassa.services import ledger

from .test_pay_qr import new_payment, post_event, succeeded


def static_event(point, amount, txn: str) -> dict:
    return {"type": "payment.succeeded", "data": {
        "bank_txn_id": txn, "link_type": "static", "transaction_id": point.reference,
        "recipient_id": point.merchant.account_number, "amount": amount, "currency": "417",
        "payer": {"bank": "O!Bank", "name_masked": "Б***т"}, "paid_at": utcnow().isoformat()}}


def balances(merchant_id: int) -> dict[str, int]:
    db.session.commit()
    return ledger.balances(merchant_id)


def test_the_ceiling_is_the_one_typed_amounts_and_the_elqr_have():
    from mkassa import elqr
    assert MAX_AMOUNT == 10**elqr.MAX_AMOUNT_DIGITS - 1
    # Far from 2^63: a balance plus any amount cannot overflow a 64-bit integer.
    assert MAX_BALANCE + MAX_AMOUNT < 2**63 - 1


def test_a_static_payment_of_the_ceiling_is_credited(client, demo):
    point = demo.points[1]
    before = balances(demo.merchant.id)["processing"]
    response = post_event(client, static_event(point, MAX_AMOUNT, "static-max"))
    assert response.status_code == 200
    assert balances(demo.merchant.id)["processing"] == before + MAX_AMOUNT


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, 2**62, 2**63, 2**64 + 5, 10**40])
def test_a_static_payment_above_the_ceiling_is_refused_and_kept_for_the_console(client, demo, amount):
    point = demo.points[1]
    before = balances(demo.merchant.id)
    payments_before = db.session.scalar(select(func.count()).select_from(Payment))

    first = post_event(client, static_event(point, amount, "static-huge"), webhook_id="msg_huge")
    again = post_event(client, static_event(point, amount, "static-huge"), webhook_id="msg_huge")

    assert (first.status_code, again.status_code) == (422, 422)
    event = db.session.scalar(select(BankWebhookEvent).where(BankWebhookEvent.webhook_id == "msg_huge"))
    assert (event.outcome, event.attempts, event.payment_id) == ("mismatch", 2, None)
    assert str(MAX_AMOUNT) in event.reason
    assert balances(demo.merchant.id) == before
    assert all(type(value) is int for value in before.values())
    assert db.session.scalar(select(func.count()).select_from(Payment)) == payments_before
    assert ledger.total_sum() == 0


def test_two_huge_static_payments_leave_balances_whole_numbers(client, demo):
    """The attack as reported: 2^62 twice. Both are refused; the merchant's pages still render."""
    point = demo.points[1]
    for n in range(2):
        assert post_event(client, static_event(point, 2**62, f"static-{n}")).status_code == 422
    db.session.commit()
    raw = db.session.execute(select(LedgerAccount.balance)).scalars().all()
    assert all(type(value) is int and abs(value) <= MAX_BALANCE for value in raw)


def test_a_dynamic_payment_event_above_the_ceiling_is_refused(client, demo):
    payment = new_payment(demo.cashier)
    response = post_event(client, succeeded(payment, amount=MAX_AMOUNT + 1))
    assert response.status_code == 422
    assert "1 to 9999999999999" in db.session.scalar(select(BankWebhookEvent.reason))
    db.session.refresh(payment)
    assert payment.status == "pending"


# ---------------------------------------------------------------------- the databases' CHECK constraints


def refused(statement) -> bool:
    try:
        with db.session.begin_nested():
            db.session.execute(statement)
    except IntegrityError:
        return True
    return False


def test_the_database_refuses_a_payment_above_the_ceiling(demo):
    row = dict(public_id="01JCEILING0000000000000000", merchant_id=demo.merchant.id, method="qr",
               link_type="static", currency="417", status="pending", created_at=utcnow(), flagged=False)
    assert refused(insert(Payment).values(amount=MAX_AMOUNT + 1, **row))
    assert not refused(insert(Payment).values(amount=MAX_AMOUNT, **row))


def test_the_database_refuses_payouts_and_sandbox_amounts_above_the_ceiling(demo):
    now = utcnow()
    payout = dict(public_id="01JCEILING0000000000000001", merchant_id=demo.merchant.id,
                  requested_by_id=demo.owner.id, mbank_phone="+996700000000", status="requested",
                  created_at=now, flagged_overdue=False)
    assert refused(insert(Payout).values(amount=MAX_AMOUNT + 1, **payout))
    assert not refused(insert(Payout).values(amount=MAX_AMOUNT, **payout))
    bank_payout = dict(payout_id="P1", mbank_phone="+996700000000", status="processing", bank_ref="R",
                       requested_at=now, due_at=now)
    assert refused(insert(SandboxBankPayout).values(amount=MAX_AMOUNT + 1, **bank_payout))
    assert refused(insert(SandboxBankPayout).values(amount=0, **bank_payout))
    assert not refused(insert(SandboxBankPayout).values(amount=MAX_AMOUNT, **bank_payout))
    bank_payment = dict(bank_txn_id="T1", link_type="static", amount=MAX_AMOUNT + 1, currency="417",
                        payer_bank="B", payer_name_masked="N", paid_at=now)
    assert refused(insert(SandboxBankPayment).values(bank_payment))
    assert not refused(insert(SandboxBankPayment).values({**bank_payment, "amount": MAX_AMOUNT}))


def test_the_database_refuses_ledger_entries_and_balances_beyond_their_ceilings(demo):
    account = ledger.get_account("processing", demo.merchant.id)
    bank = ledger.get_account("bank_incoming")
    transfer = LedgerTransfer(code="t-ceiling", kind="payment", merchant_id=demo.merchant.id, created_at=utcnow())
    db.session.add(transfer)
    db.session.flush()
    entry = dict(transfer_id=transfer.id, account_id=account.id, created_at=utcnow())
    assert refused(insert(LedgerEntry).values(amount=MAX_AMOUNT + 1, **entry))
    assert refused(insert(LedgerEntry).values(amount=-MAX_AMOUNT - 1, **entry))
    assert not refused(insert(LedgerEntry).values(amount=-MAX_AMOUNT, **entry))
    for acc in (account, bank):
        assert refused(update(LedgerAccount).where(LedgerAccount.id == acc.id).values(balance=MAX_BALANCE + 1))
        assert not refused(update(LedgerAccount).where(LedgerAccount.id == acc.id).values(balance=MAX_BALANCE))
    assert refused(update(LedgerAccount).where(LedgerAccount.id == bank.id).values(balance=-MAX_BALANCE - 1))
    assert not refused(update(LedgerAccount).where(LedgerAccount.id == bank.id).values(balance=-MAX_BALANCE))


def test_a_credit_past_the_balance_ceiling_is_refused_whole_instead_of_overflowing(demo):
    """The second 2^62 credit of the report, one level down: the ledger itself refuses the overflow."""
    processing = ledger.get_account("processing", demo.merchant.id)
    bank = ledger.get_account("bank_incoming")
    db.session.execute(update(LedgerAccount).where(LedgerAccount.id == processing.id)
                       .values(balance=MAX_BALANCE - 10))
    db.session.execute(update(LedgerAccount).where(LedgerAccount.id == bank.id)
                       .values(balance=-(MAX_BALANCE - 10)))
    db.session.commit()
    with pytest.raises(ledger.LedgerError):
        ledger.post("payment:overflow", "payment", [(bank, -11), (processing, 11)], merchant_id=demo.merchant.id)
    db.session.commit()
    assert ledger.balances(demo.merchant.id)["processing"] == MAX_BALANCE - 10
    assert db.session.scalar(select(LedgerTransfer).where(LedgerTransfer.code == "payment:overflow")) is None
    raw = db.session.execute(text("SELECT balance FROM ledger_account WHERE id = :id"), {"id": processing.id})
    assert type(raw.scalar()) is int


def test_the_database_refuses_a_daily_sum_beyond_the_balance_ceiling(demo):
    row = dict(merchant_id=demo.merchant.id, day=date(2026, 1, 1), point_id=0, cashier_id=0, method="qr",
               status="succeeded", count=1)
    assert refused(insert(PaymentDay).values(amount_sum=MAX_BALANCE + 1, **row))
    assert refused(insert(PaymentDay).values(amount_sum=-MAX_BALANCE - 1, **row))
    assert not refused(insert(PaymentDay).values(amount_sum=MAX_BALANCE, **row))
