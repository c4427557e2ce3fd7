"""QR payments while the phone is offline (issue #16, item 6): reserved ids, the Bank's notice and the
phone's upload matched in either order, counted once; mismatches flagged; foreign and expired ids refused."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from mkassa import elqr
from mkassa.extensions import db
from mkassa.models import LedgerTransfer, Payment, PaymentDay, PaymentReservation, utcnow
from mkassa.services import jobs, ledger, offline, queries
from mkassa.security import scoped

from .test_pay_qr import post_event, received, reload


def reserve(client, auth, login="cashier"):
    auth.login(login)
    token = auth.csrf("/pay/")
    response = client.post("/pay/reservations", headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.data
    return response.json, token


def bank_paid(reservation_id: str, amount: int, merchant, bank_txn_id: str = "txn-off-1") -> dict:
    return {"type": "payment.succeeded", "data": {
        "bank_txn_id": bank_txn_id, "link_type": "dynamic", "transaction_id": reservation_id,
        "recipient_id": merchant.account_number, "amount": amount, "currency": "417",
        "payer": {"bank": "MBANK", "name_masked": "А***р К."}, "paid_at": utcnow().isoformat()}}


def upload(client, token, reservation_id, amount="75.00", made_at=None, key="k-1"):
    made_at = made_at or utcnow().isoformat()
    return client.post("/pay/offline", data={"csrf_token": token, "reservation": reservation_id, "amount": amount,
                                             "made_at": made_at}, headers={"Idempotency-Key": key})


def counts(merchant_id: int) -> tuple[int, int, int, int]:
    """What the merchant's figures hold: today's succeeded payments (count, sum: home), succeeded
    payments in the reports' daily rollup, and payment transfers in the ledger."""
    db.session.commit()
    total = queries.today_total(select(Payment).where(Payment.merchant_id == merchant_id))
    rolled = db.session.scalar(select(func.coalesce(func.sum(PaymentDay.count), 0)).where(
        PaymentDay.merchant_id == merchant_id, PaymentDay.status == "succeeded"))
    transfers = db.session.scalar(select(func.count()).select_from(LedgerTransfer).where(
        LedgerTransfer.merchant_id == merchant_id, LedgerTransfer.kind == "payment"))
    return total.count, total.amount, rolled, transfers


def grew(before: tuple, amount: int) -> tuple:
    """The figures after exactly one more succeeded payment of `amount`."""
    return before[0] + 1, before[1] + amount, before[2] + 1, before[3] + 1


def ours(reservation_ids) -> int:
    return db.session.scalar(select(func.count()).select_from(Payment).where(Payment.public_id.in_(reservation_ids)))


def test_a_device_holds_a_stock_of_ids_bound_to_it_its_point_and_its_user(client, auth, demo):
    data, _token = reserve(client, auth)
    assert len(data["ids"]) == offline.RESERVE_STOCK == 20
    assert data["owner"] == demo.cashier.public_id
    assert data["qr"]["recipient_id"] == demo.merchant.account_number
    assert elqr.parse(data["static"]["link"]).transaction_id == demo.cashier.point.reference
    rows = db.session.scalars(select(PaymentReservation)).all()
    assert {(r.user_id, r.point_id, r.merchant_id) for r in rows} == {
        (demo.cashier.id, demo.cashier.point_id, demo.merchant.id)}
    [key] = {r.device_key for r in rows}
    assert key.startswith(offline.SESSION_PREFIX)
    assert all(r.expires_at - r.created_at == offline.RESERVATION_LIFETIME == timedelta(hours=24) for r in rows)
    # Asked again: the same stock, nothing new.
    again = client.post("/pay/reservations", headers={"X-CSRFToken": auth.csrf("/pay/")}).json
    assert [r["id"] for r in again["ids"]] == [r["id"] for r in data["ids"]]
    assert db.session.scalar(select(func.count()).select_from(PaymentReservation)) == 20


def test_the_stock_is_topped_up_once_ids_are_used_or_past_half_their_life(client, auth, demo):
    data, token = reserve(client, auth)
    assert upload(client, token, data["ids"][0]["id"]).status_code == 303
    after = client.post("/pay/reservations", headers={"X-CSRFToken": token}).json
    assert len(after["ids"]) == 20 and data["ids"][0]["id"] not in {r["id"] for r in after["ids"]}
    # Past half their life, ids are no longer counted (the session would have ended: the service is asked).
    from flask import current_app
    settings = current_app.extensions["mkassa.settings"]
    key = db.session.scalar(select(PaymentReservation.device_key).limit(1))
    half = utcnow() + offline.RESERVATION_LIFETIME / 2
    kept = offline.reserve(demo.cashier, key, settings, now=half - timedelta(minutes=1))
    assert {r.public_id for r in kept} == {r["id"] for r in after["ids"]}
    fresh = offline.reserve(demo.cashier, key, settings, now=half + timedelta(minutes=1))
    assert len(fresh) == 20 and not {r.public_id for r in fresh} & {r["id"] for r in after["ids"]}


def test_reservations_need_a_signed_in_merchant_user_and_csrf(client, auth, demo):
    anonymous = client.post("/pay/reservations", headers={"X-CSRFToken": auth.csrf("/login")})
    assert anonymous.status_code in (302, 303, 401)
    auth.login("cashier")
    assert client.post("/pay/reservations").status_code == 400  # no CSRF token
    assert db.session.scalar(select(func.count()).select_from(PaymentReservation)) == 0


def test_bank_first_then_upload_counts_once_and_replays_act_once(client, auth, demo):
    data, token = reserve(client, auth)
    rid = data["ids"][0]["id"]
    before, figures = received(demo.merchant.id), counts(demo.merchant.id)
    event = bank_paid(rid, 7500, demo.merchant)
    first = post_event(client, event, webhook_id="msg_off_1")
    assert (first.status_code, first.json["outcome"]) == (200, "processed")
    payment = db.session.scalar(select(Payment).where(Payment.public_id == rid))
    assert (payment.status, payment.amount, payment.cashier_id, payment.point_id, payment.offline_amount) == (
        "succeeded", 7500, demo.cashier.id, demo.cashier.point_id, None)
    assert post_event(client, event, webhook_id="msg_off_1").json["outcome"] == "duplicate"
    assert post_event(client, event).json["outcome"] == "duplicate"

    made_at = utcnow().isoformat()
    response = upload(client, token, rid, made_at=made_at)
    assert response.status_code == 303 and response.location.endswith(f"/pay/{rid}")
    replay = upload(client, token, rid, made_at=made_at)  # the queue sends it again with the same key
    assert replay.status_code == 303
    paid = reload(payment)
    assert (paid.status, paid.amount, paid.offline_amount, paid.flagged) == ("succeeded", 7500, 7500, False)
    assert received(demo.merchant.id) == before + 7500
    assert counts(demo.merchant.id) == grew(figures, 7500)
    assert ledger.total_sum() == 0
    # Another upload for the same id (a new key) is refused: an id is used once.
    again = upload(client, token, rid, key="k-2")
    assert again.status_code == 409 and b"already been recorded" in again.data


def test_upload_first_then_bank_counts_once(client, auth, demo):
    data, token = reserve(client, auth)
    rid = data["ids"][0]["id"]
    before, figures = received(demo.merchant.id), counts(demo.merchant.id)
    assert upload(client, token, rid).status_code == 303
    pending = db.session.scalar(select(Payment).where(Payment.public_id == rid))
    assert (pending.status, pending.amount, pending.offline_amount) == ("pending", 7500, 7500)
    assert received(demo.merchant.id) == before
    # The cashier's payment page shows the same link the phone drew offline.
    html = client.get(f"/pay/{rid}").get_data(as_text=True)
    link = re.search(r'data-testid="payment-link"[^>]*|href="([^"]+)" data-testid="payment-link"', html)
    assert link and rid in html
    assert post_event(client, bank_paid(rid, 7500, demo.merchant)).json["outcome"] == "processed"
    assert post_event(client, bank_paid(rid, 7500, demo.merchant)).json["outcome"] == "duplicate"
    paid = reload(pending)
    assert (paid.status, paid.flagged) == ("succeeded", False)
    assert received(demo.merchant.id) == before + 7500
    assert counts(demo.merchant.id) == grew(figures, 7500)


@pytest.mark.parametrize("order", ["bank_first", "upload_first"])
def test_an_amount_differing_from_the_banks_is_flagged_and_the_banks_counts(client, auth, demo, admin_user, order):
    data, token = reserve(client, auth)
    rid = data["ids"][0]["id"]
    before, figures = received(demo.merchant.id), counts(demo.merchant.id)
    if order == "bank_first":
        assert post_event(client, bank_paid(rid, 8000, demo.merchant)).status_code == 200
        assert upload(client, token, rid, amount="75,00").status_code == 303
    else:
        assert upload(client, token, rid, amount="75,00").status_code == 303
        assert post_event(client, bank_paid(rid, 8000, demo.merchant)).status_code == 200  # never refused
    paid = db.session.scalar(select(Payment).where(Payment.public_id == rid))
    assert (paid.status, paid.amount, paid.offline_amount, paid.flagged) == ("succeeded", 8000, 7500, True)
    assert received(demo.merchant.id) == before + 8000
    assert counts(demo.merchant.id) == grew(figures, 8000)
    assert ledger.total_sum() == 0
    # Listed in the bank console's flagged payments, with what the phone showed.
    auth.logout()
    client.set_cookie("lang", "en", domain="localhost")
    auth.login("operator", "operator-pass-1")
    html = client.get("/admin/payments?flagged=1").get_data(as_text=True)
    assert rid in html and 'data-testid="offline-amount"' in html


def test_an_upload_the_bank_never_pays_expires_not_paid(client, auth, demo):
    data, token = reserve(client, auth)
    rid = data["ids"][0]["id"]
    figures = counts(demo.merchant.id)
    assert upload(client, token, rid).status_code == 303
    pending = db.session.scalar(select(Payment).where(Payment.public_id == rid))
    db.session.commit()
    with time_machine.travel(pending.expires_at - timedelta(seconds=1), tick=False):
        jobs.run_all()
    assert reload(pending).status == "pending"
    with time_machine.travel(pending.expires_at, tick=False):
        jobs.run_all()
    assert reload(pending).status == "expired"
    assert counts(demo.merchant.id) == figures


def test_foreign_unknown_and_expired_ids_are_refused_and_change_nothing(client, auth, demo):
    data, _token = reserve(client, auth, "cashier")
    mine = data["ids"][0]["id"]
    auth.logout()
    # Another cashier of the same merchant cannot use it.
    other, other_token = reserve(client, auth, "cashier2")
    refused = upload(client, other_token, mine)
    assert refused.status_code == 404 and b"not made on this phone by you" in refused.data
    assert upload(client, other_token, "01HZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 404
    # A QR made after its id expired (the phone's time), at the boundary.
    theirs = db.session.scalar(select(PaymentReservation).where(PaymentReservation.public_id == other["ids"][0]["id"]))
    late = upload(client, other_token, theirs.public_id,
                  made_at=(theirs.expires_at + timedelta(seconds=1)).isoformat(), key="k-late")
    assert late.status_code == 404 and b"expired" in late.data
    # A time in the future beyond the clock skew is refused too; bad amount and time are 422.
    future = upload(client, other_token, theirs.public_id,
                    made_at=(utcnow() + offline.CLOCK_SKEW + timedelta(minutes=1)).isoformat(), key="k-fut")
    assert future.status_code == 404
    assert upload(client, other_token, theirs.public_id, amount="0", key="k-zero").status_code == 422
    assert upload(client, other_token, theirs.public_id, made_at="yesterday", key="k-bad").status_code == 422
    assert ours([mine, theirs.public_id]) == 0
    # The last moment of its life is still good (asked of the service: the session would have ended).
    from flask import current_app
    from mkassa.services import ServiceError
    settings = current_app.extensions["mkassa.settings"]
    with pytest.raises(ServiceError):
        offline.upload(demo.cashier2, theirs.device_key, theirs.public_id, "75",
                       (theirs.expires_at + timedelta(microseconds=1)).isoformat(), settings, now=theirs.expires_at)
    payment = offline.upload(demo.cashier2, theirs.device_key, theirs.public_id, "75",
                             theirs.expires_at.isoformat(), settings, now=theirs.expires_at)
    assert (payment.status, payment.amount, payment.cashier_id) == ("pending", 7500, demo.cashier2.id)


def test_a_bank_notice_for_an_unknown_id_is_still_refused(client, demo):
    response = post_event(client, bank_paid("01HZZZZZZZZZZZZZZZZZZZZZZZ", 7500, demo.merchant))
    assert response.status_code == 422


def test_reservations_are_scoped_to_their_user(client, auth, demo):
    reserve(client, auth, "cashier")
    assert db.session.scalars(scoped(PaymentReservation, user=demo.cashier2)).all() == []
    assert len(db.session.scalars(scoped(PaymentReservation, user=demo.owner)).all()) == 0
    assert len(db.session.scalars(scoped(PaymentReservation, user=demo.cashier)).all()) == 20


def test_unused_ids_are_purged_a_retention_after_expiry_and_used_ones_stay(client, auth, demo):
    from mkassa.services import housekeeping
    data, token = reserve(client, auth)
    assert upload(client, token, data["ids"][0]["id"]).status_code == 303
    db.session.commit()
    expires = db.session.scalar(select(func.max(PaymentReservation.expires_at)))
    assert housekeeping.purge_unused_reservations(now=expires + housekeeping.RESERVATION_RETENTION) == 0
    assert housekeeping.purge_unused_reservations(
        now=expires + housekeeping.RESERVATION_RETENTION + timedelta(seconds=1)) == 19
    [kept] = db.session.scalars(select(PaymentReservation)).all()
    assert kept.public_id == data["ids"][0]["id"]


def test_an_id_held_by_a_quick_access_device_is_uploaded_from_that_device_only(app, demo):
    settings = app.extensions["mkassa.settings"]
    device = offline.DEVICE_PREFIX + "01HDEVICEAAAAAAAAAAAAAAAAA"
    [first, second, *_] = offline.reserve(demo.cashier, device, settings)
    db.session.commit()
    made_at = utcnow().isoformat()
    for elsewhere in (offline.DEVICE_PREFIX + "01HDEVICEBBBBBBBBBBBBBBBBB", offline.SESSION_PREFIX + "1", None):
        with pytest.raises(offline.Refused):
            offline.upload(demo.cashier, elsewhere, first.public_id, "75", made_at, settings)
    assert offline.upload(demo.cashier, device, first.public_id, "75", made_at, settings).amount == 7500
    # The same user on another quick-access device holds a stock of its own.
    other = offline.reserve(demo.cashier, offline.DEVICE_PREFIX + "01HDEVICEBBBBBBBBBBBBBBBBB", settings)
    assert len(other) == offline.RESERVE_STOCK and second.public_id not in {r.public_id for r in other}
