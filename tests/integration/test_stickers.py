"""The NFC sticker check (#15 item 6): /nfc/check says whose point and what amount a sticker's link
carries, names only the asker's own, and calls anything else not an MKASSA link."""
from __future__ import annotations

import pytest

from mkassa import elqr
from mkassa.services import accept, stickers
from mkassa.services.qr import static_link

from .test_pay_qr import new_payment, other_merchant_owner

NOT_MKASSA = "This sticker does not carry an MKASSA payment link."


def settings():
    from flask import current_app
    return current_app.extensions["mkassa.settings"]


def check(client, auth, link: str, login: str = "demo"):
    auth.login(login)
    response = client.post("/nfc/check", data={"link": link}, headers={"X-CSRFToken": auth.csrf("/")})
    auth.logout()
    assert response.status_code == 200
    return response.get_json()


def test_own_point_sticker_names_the_point(client, auth, demo):
    point = demo.points[0]
    answer = check(client, auth, static_link(demo.merchant, point, settings()))
    assert answer == {"mkassa": True, "own": True,
                      "message": f"Point “{point.name}” of Demo Shop; the payer types the amount."}


def test_own_payment_sticker_says_amount_point_and_status(client, auth, demo):
    payment = new_payment(demo.cashier, "250,00")
    answer = check(client, auth, accept.payment_link(payment, settings()))
    assert answer["mkassa"] and answer["own"]
    assert answer["message"] == f"Payment of 250.00\xa0som to point “{payment.point.name}” (Waiting)."


def test_another_merchants_sticker_never_names_its_point(client, auth, demo):
    other = other_merchant_owner()
    point = demo.points[0]
    payment = new_payment(demo.cashier, "250,00")
    for link in (static_link(demo.merchant, point, settings()), accept.payment_link(payment, settings())):
        answer = check(client, auth, link, login=other.login)
        assert answer["mkassa"] and not answer["own"]
        assert point.name not in answer["message"] and "Demo Shop" not in answer["message"]
    assert "250.00" in answer["message"]  # what the link itself carries


def test_a_cashier_is_told_only_about_their_own_point_and_payments(client, auth, demo):
    mine, theirs = demo.cashier.point, next(p for p in demo.points if p.id != demo.cashier.point_id)
    payment = new_payment(demo.cashier2, "99,00")
    assert check(client, auth, static_link(demo.merchant, mine, settings()), "cashier")["own"] is True
    for link in (static_link(demo.merchant, theirs, settings()), accept.payment_link(payment, settings())):
        answer = check(client, auth, link, "cashier")
        assert answer["mkassa"] and not answer["own"] and theirs.name not in answer["message"]


def changed(link: str, **changes) -> str:
    code = elqr.parse(link)
    for name, value in changes.items():
        setattr(code, name, value)
    return elqr.build(code, link.partition("#")[0])


@pytest.mark.parametrize("make", [
    lambda link: "https://example.com/menu",
    lambda link: "",
    lambda link: "not a link at all",
    lambda link: link[:-1] + ("0" if link[-1] != "0" else "1"),  # checksum broken: rewritten by hand
    lambda link: link.replace("https://app.mbank.kg/qr/", "https://evil.example/qr/"),
    lambda link: changed(link, provider_id="c2b.otherbank.kg"),
    lambda link: changed(link, service_code="othercash"),
    lambda link: link + "A" * stickers.MAX_LINK_LENGTH,
])
def test_anything_else_is_not_an_mkassa_link(client, auth, demo, make):
    link = make(static_link(demo.merchant, demo.points[0], settings()))
    assert check(client, auth, link) == {"mkassa": False, "own": False, "message": NOT_MKASSA}


def test_the_check_needs_a_signed_in_merchant_user_and_csrf(client, auth, demo):
    link = static_link(demo.merchant, demo.points[0], settings())
    anonymous = client.post("/nfc/check", data={"link": link})
    assert anonymous.status_code in (302, 400, 401) and b"Demo Shop" not in anonymous.data
    auth.login("demo")
    assert client.post("/nfc/check", data={"link": link}).status_code == 400  # no CSRF token
    assert client.get("/nfc/check").status_code == 405
