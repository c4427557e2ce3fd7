"""The payer's public receipt (issue #17 item 4): offered on the success screen, opened without
signing in by an unguessable id; any id not issued, and any payment not paid, is a plain 404."""
from __future__ import annotations

import re
import secrets
from urllib.parse import unquote

import pytest

from mkassa.extensions import db
from mkassa.models import Payment
from mkassa.models.payment import RECEIPT_TOKEN_LENGTH
from mkassa.services import accept

from .test_pay_qr import new_payment, post_event, reload, succeeded


def paid(client, demo, amount: str = "123,45", **changes) -> Payment:
    payment = new_payment(demo.cashier, amount)
    assert post_event(client, succeeded(payment, **changes)).status_code == 200
    return reload(payment)


def receipt_href(client, auth, payment: Payment, login: str = "cashier") -> str | None:
    auth.login(login)
    html = client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    auth.logout()
    match = re.search(r'href="([^"]+)" data-testid="receipt-link"', html)
    return match and match.group(1)


def test_the_success_screen_offers_a_receipt_by_its_own_random_id(client, auth, demo):
    payment = paid(client, demo)
    href = receipt_href(client, auth, payment)
    assert href == f"http://localhost/r/{payment.receipt_token}"
    token = payment.receipt_token
    assert len(token) == RECEIPT_TOKEN_LENGTH and payment.public_id not in token
    assert paid(client, demo).receipt_token != token
    auth.login("cashier")
    html = client.get(f"/pay/{payment.public_id}").get_data(as_text=True)
    assert 'data-testid="receipt-qr"' in html and "<svg" in html.split('data-testid="receipt-qr"')[1][:200]


def test_anyone_opens_the_receipt_without_signing_in(client, auth, demo):
    payment = paid(client, demo, "500,00", payer={"bank": "MBANK", "name_masked": "А***р К."})
    other = paid(client, demo, "777,00")
    response = client.get(f"/r/{payment.receipt_token}")  # this client never signed in
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert 'data-amount="50000"' in html and "500.00" in html
    assert "Demo Shop" in html and payment.point.name in html
    assert "MBANK · А***р К." in html
    assert payment.public_id in html and payment.bank_txn_id in html
    # The time is Bishkek's (UTC+6): the hour as the payment's paid_at shows it there.
    local = payment.paid_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Bishkek"))
    assert f"{local:%-I}:{local:%M}" in html
    # Nothing of any other payment, nor anything of a signed-in page.
    for leak in (other.public_id, other.receipt_token, other.bank_txn_id, 'data-amount="77700"',
                 demo.cashier.name, demo.merchant.account_number, "bottom-nav"):
        assert leak not in html
    # A WhatsApp link carrying the receipt's address.
    share = re.search(r'data-testid="receipt-whatsapp"[^>]*href="([^"]+)"', html).group(1)
    assert share.startswith("https://wa.me/?text=")
    assert f"http://localhost/r/{payment.receipt_token}" in unquote(share.replace("&amp;", "&"))


def test_the_receipt_speaks_the_readers_language_signed_out(client, demo):
    payment = paid(client, demo)
    path = f"/r/{payment.receipt_token}"
    assert "Чек" in client.get(path, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)
    switched = client.post("/language", data={"lang": "ky", "next": path, "csrf_token": csrf})
    assert switched.status_code == 302 and switched.headers["Location"].endswith(path)
    html = client.get(path).get_data(as_text=True)
    assert '<html lang="ky">' in html and "WhatsApp аркылуу жөнөтүү" in html


def without_request_echo(html: str) -> str:
    """A page less what any page echoes of its own request: the path (the language switch's
    `next`) and the CSRF token."""
    html = re.sub(r'name="next" value="[^"]*"', "", html)
    return re.sub(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"', "", html)


def not_found_body(client) -> str:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    return without_request_echo(response.get_data(as_text=True))


@pytest.mark.parametrize("make_id", [
    lambda p: secrets.token_urlsafe(16),  # well formed, never issued
    lambda p: p.public_id,  # the id in the payer's QR is not the receipt's
    lambda p: str(p.id),
    lambda p: p.receipt_token.swapcase(),
    lambda p: p.receipt_token[:-1],
    lambda p: p.receipt_token + "A",
    lambda p: p.receipt_token[:-1] + "%",
    lambda p: "' OR 1=1 --",
])
def test_any_id_not_issued_is_a_plain_404(client, demo, make_id):
    payment = paid(client, demo)
    plain = not_found_body(client)
    response = client.get(f"/r/{make_id(payment)}")
    assert response.status_code == 404
    assert without_request_echo(response.get_data(as_text=True)) == plain  # no hint: the same page as a path that never existed


@pytest.mark.parametrize("finish", [None, "cancel", "expire"])
def test_only_a_succeeded_payment_has_a_receipt(client, auth, demo, finish):
    payment = new_payment(demo.cashier)
    if finish == "cancel":
        accept.cancel(payment)
    elif finish == "expire":
        from mkassa.services import payments
        payments.transition(payment, "expired")
    db.session.commit()
    assert receipt_href(client, auth, payment) is None
    plain = not_found_body(client)
    response = client.get(f"/r/{payment.receipt_token}")
    assert response.status_code == 404 and without_request_echo(response.get_data(as_text=True)) == plain
    # Late money turns the same token into a receipt: it never changes, so a link given is kept.
    token = payment.receipt_token
    assert post_event(client, succeeded(payment)).status_code == 200
    assert reload(payment).receipt_token == token
    assert client.get(f"/r/{token}").status_code == 200


def test_a_signed_in_user_of_another_merchant_sees_the_same_receipt_and_nothing_more(client, auth, demo):
    from .test_pay_qr import other_merchant_owner
    payment = paid(client, demo)
    other_merchant_owner()
    auth.login("other")
    assert client.get(f"/r/{payment.receipt_token}").status_code == 200
    assert client.get(f"/pay/{payment.public_id}").status_code == 404


@pytest.mark.slow  # a database of its own, migrated down and up
def test_migration_gives_every_existing_payment_its_own_receipt_token(make_app, scratch_database_url):
    """Receipts never expire, so payments made before 0016 get a token too: each its own, random."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import select

    from mkassa.services.demo import seed
    app = make_app(database_url=scratch_database_url)
    with app.app_context():
        upgrade()
        seed(payments=30)
        db.session.commit()
        upgrade()  # at the head already: nothing to do
        downgrade(revision="0015")
        upgrade()
        tokens = db.session.scalars(select(Payment.receipt_token)).all()
        assert len(tokens) >= 30 and len(set(tokens)) == len(tokens)
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{%d}" % RECEIPT_TOKEN_LENGTH, t) for t in tokens)
        db.session.remove()
