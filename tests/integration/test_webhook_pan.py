"""Card numbers in what the Bank sends are never stored in clear (#12.8): bodies, reasons, payer fields."""
from __future__ import annotations

import json

from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import BankWebhookEvent, Payment, Payout

from .test_pay_qr import new_payment, post_event, signed, succeeded
from .test_payouts import in_flight, owner  # noqa: F401  (fixtures)
from .test_payouts import post_event as post_payout_event

PAN = "4111111111111111"
SPACED = "4111 1111 1111 1111"
DASHED = "5500-0000-0000-0004"
AMEX = "378282246310005"
CLEAR = (PAN, "4111111111111111", "5500000000000004", AMEX)


def stored(webhook_id: str) -> BankWebhookEvent:
    db.session.commit()
    return db.session.scalar(select(BankWebhookEvent).where(BankWebhookEvent.webhook_id == webhook_id))


def no_pan(*texts: str | None) -> bool:
    joined = " | ".join(t or "" for t in texts).replace(" ", "").replace("-", "")
    return not any(pan in joined for pan in CLEAR)


def test_a_paid_event_is_applied_and_stored_without_the_card_number(client, demo):
    payment = new_payment(demo.cashier)
    event = succeeded(payment, card_mask=PAN, payer={"bank": f"MBANK card {SPACED}", "name_masked": DASHED})
    response = post_event(client, event, webhook_id="msg_pan_paid")
    assert response.status_code == 200
    row = stored("msg_pan_paid")
    assert row.outcome == "processed" and no_pan(row.body)
    assert "411111******1111" in row.body and "4111 11** **** 1111" in row.body
    assert json.loads(row.body)["data"]["amount"] == payment.amount  # the rest of the body is as sent
    paid = db.session.get(Payment, payment.id)
    assert paid.status == "succeeded" and no_pan(paid.payer_bank, paid.payer_name_masked)
    assert paid.payer_bank == "MBANK card 4111 11** **** 1111"


def test_a_failure_reason_with_a_card_number_is_stored_masked(client, demo):
    payment = new_payment(demo.cashier)
    event = {"type": "payment.failed", "data": {"transaction_id": payment.public_id,
                                                "reason": f"card {DASHED} declined, card_mask {AMEX}"}}
    assert post_event(client, event, webhook_id="msg_pan_failed").status_code == 200
    failed = db.session.get(Payment, payment.id)
    assert failed.status == "failed" and no_pan(failed.failure_reason, stored("msg_pan_failed").body)
    assert failed.failure_reason == "card 5500-00**-****-0004 declined, card_mask 378282*****0005"


def test_a_refused_event_keeps_no_card_number_in_its_reason_type_or_body(client, demo):
    event = {"type": f"card {PAN}", "data": {"transaction_id": PAN}}
    assert post_event(client, event, webhook_id="msg_pan_type").status_code == 422
    event = {"type": "payment.failed", "data": {"transaction_id": PAN}}
    assert post_event(client, event, webhook_id="msg_pan_unknown").status_code == 422
    event = {"type": "payment.succeeded", "data": {"bank_txn_id": SPACED, "link_type": "static",
                                                   "transaction_id": "nowhere", "amount": 100, "currency": "417",
                                                   "paid_at": "2026-11-30T06:00:00+00:00"}}
    assert post_event(client, event, webhook_id="msg_pan_txn").status_code == 422
    for webhook_id in ("msg_pan_type", "msg_pan_unknown", "msg_pan_txn"):
        row = stored(webhook_id)
        assert row.outcome == "mismatch"
        assert no_pan(row.body, row.reason, row.event_type, row.bank_txn_id), webhook_id
    assert "411111******1111" in stored("msg_pan_unknown").reason


def test_a_body_that_is_not_json_is_stored_masked_too(client):
    body = f"card={PAN}"
    response = client.post("/bank/webhooks", data=body, headers=signed(body, "msg_pan_text"))
    assert response.status_code == 422
    assert stored("msg_pan_text").body == "card=411111******1111"


def test_a_payout_failure_reason_with_a_card_number_is_stored_masked(client, owner, in_flight):  # noqa: F811
    response = post_payout_event(client, "payout.failed", in_flight, "msg_pan_payout",
                                 reason=f"wallet linked to {SPACED}", bank_ref=PAN)
    assert response.status_code == 200
    payout = db.session.scalar(select(Payout).where(Payout.id == in_flight.id))
    assert payout.status == "failed" and no_pan(payout.failure_reason, payout.bank_ref, stored("msg_pan_payout").body)
