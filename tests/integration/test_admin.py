"""Bank console (D4): bank staff onboard a merchant; the owner's credentials go out by SMS."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mkassa.cli import admin_create
from mkassa.extensions import db
from mkassa.models import LedgerAccount, Merchant, SandboxSms, User
from mkassa.services import auth as auth_service
from mkassa.services.outbox import dispatch_due

FORM = {"legal_name": "ОсОО Жибек", "display_name": "Jibek Shop", "inn": "01234567890123", "mcc": "5411",
        "account_number": "1030 1200 0009 9999", "bank_name": "Bank", "bank_bic": "103001",
        "account_opened_on": "2024-01-10", "owner_name": "Асель Тестова", "owner_phone": "0555 987 654",
        "mbank_phone": "+996 555 987 654", "is_bank_client": "1"}


@pytest.fixture
def console(client, auth, admin_user):
    client.set_cookie("lang", "en", domain="localhost")
    auth.login("operator", "operator-pass-1")
    return auth.csrf("/admin/merchants/new")


def test_admin_creates_merchant_and_owner_gets_credentials_by_sms(client, console):
    response = client.post("/admin/merchants/new", data={**FORM, "csrf_token": console})
    assert response.status_code == 302
    merchant = db.session.scalar(select(Merchant))
    owner = db.session.scalar(select(User).where(User.merchant_id == merchant.id))
    assert merchant.account_number == "1030120000099999" and merchant.is_bank_client
    assert owner.role == "owner" and owner.phone == "+996555987654"
    assert {a.kind for a in db.session.scalars(select(LedgerAccount))} == {"processing", "available", "payout_pending"}
    assert dispatch_due() == 1
    sms = db.session.scalar(select(SandboxSms))
    assert sms.phone == "+996555987654" and sms.sender == "333-SVK"
    password = re.search(r"password (\S+)", sms.text).group(1)
    assert owner.login in sms.text
    assert auth_service.authenticate(owner.login, password) is not None
    # The console shows the merchant, never the password.
    page = client.get("/admin/").get_data(as_text=True)
    assert "Jibek Shop" in page and password not in page


@pytest.mark.parametrize("field,value,message", [
    ("inn", "123", "The INN has 14 digits."),
    ("mcc", "54", "The MCC has exactly 4 digits."),
    ("owner_phone", "+7 900 123 45 67", "Enter a Kyrgyz phone number"),
    ("display_name", "A" * 26, "At most 25 characters."),
    ("account_opened_on", "2999-01-01", "The account cannot be opened in the future."),
    ("legal_name", "", "This field is required."),
])
def test_bad_input_gets_a_message_and_creates_nothing(client, console, field, value, message):
    response = client.post("/admin/merchants/new", data={**FORM, field: value, "csrf_token": console})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Merchant)) == 0
    assert dispatch_due() == 0


def test_owner_and_cashier_cannot_open_the_console(client, auth, demo):
    auth.login("demo")
    assert client.get("/admin/").status_code == 403
    auth.logout()
    auth.login("cashier")
    assert client.get("/admin/merchants/new").status_code == 403


def test_admin_is_sent_to_the_console(client, auth, admin_user):
    assert auth.login("operator", "operator-pass-1").headers["Location"] == "/admin/"


def test_flask_admin_create(app):
    result = CliRunner().invoke(admin_create, ["--login", "staff1", "--password", "long-enough-1"],
                                obj=None, catch_exceptions=False, standalone_mode=False)
    assert result.exit_code == 0
    user = db.session.scalar(select(User).where(User.login == "staff1"))
    assert user.role == "admin" and auth_service.authenticate("staff1", "long-enough-1")


def test_sandbox_sms_outbox_lists_messages(client, demo):
    from mkassa.gateways.sms import queue_sms
    queue_sms("+996555000111", "hello from the test")
    db.session.commit()
    dispatch_due()
    assert "hello from the test" in client.get("/sandbox/sms").get_data(as_text=True)
    assert client.get("/sandbox/sms.json?phone=555000111").get_json()[0]["text"] == "hello from the test"
