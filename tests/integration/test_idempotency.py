"""Idempotency-Key: a retried POST is answered from the stored response and does nothing twice."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import Merchant, OutboxMessage

MERCHANT = {"legal_name": "ОсОО Тест", "display_name": "Test Shop", "inn": "01234567890123", "mcc": "5411",
            "account_number": "1030120000099999", "bank_name": "Bank", "bank_bic": "103001",
            "account_opened_on": "2024-01-10", "owner_name": "Асель Тестова", "owner_phone": "0555 987 654"}


def _signed_in_admin(client, auth, admin_user):
    auth.login("operator", "operator-pass-1")
    return auth.csrf("/admin/merchants/new")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_same_key_and_body_replays_the_stored_response(client, auth, admin_user):
    token = _signed_in_admin(client, auth, admin_user)
    data = {**MERCHANT, "csrf_token": token}
    first = client.post("/admin/merchants/new", data=data, headers={"Idempotency-Key": "k-1"})
    second = client.post("/admin/merchants/new", data=data, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(Merchant) == 1 and _count(OutboxMessage) == 1


def test_same_key_with_another_body_is_409(client, auth, admin_user):
    token = _signed_in_admin(client, auth, admin_user)
    client.post("/admin/merchants/new", data={**MERCHANT, "csrf_token": token}, headers={"Idempotency-Key": "k-2"})
    other = client.post("/admin/merchants/new", data={**MERCHANT, "display_name": "Other", "csrf_token": token},
                        headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 409
    assert _count(Merchant) == 1


def test_a_refused_request_frees_its_key(client, auth, admin_user):
    token = _signed_in_admin(client, auth, admin_user)
    bad = {**MERCHANT, "inn": "12", "csrf_token": token}
    assert client.post("/admin/merchants/new", data=bad, headers={"Idempotency-Key": "k-3"}).status_code == 422
    # The same retry is evaluated again (and refused again), not answered with 409.
    assert client.post("/admin/merchants/new", data=bad, headers={"Idempotency-Key": "k-3"}).status_code == 422
    assert _count(Merchant) == 0


def test_concurrent_duplicates_have_one_effect(app, client, auth, admin_user):
    token = _signed_in_admin(client, auth, admin_user)
    cookie = client.get_cookie("mkassa").value
    data = {**MERCHANT, "csrf_token": token}
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def send():
        c = app.test_client()
        c.set_cookie("mkassa", cookie, domain="localhost")
        barrier.wait()
        statuses.append(c.post("/admin/merchants/new", data=data, headers={"Idempotency-Key": "k-4"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _count(Merchant) == 1
    assert sorted(set(statuses)) in ([302], [302, 409])
