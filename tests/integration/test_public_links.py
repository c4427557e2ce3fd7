"""Mailed links point at PUBLIC_BASE_URL whatever Host the request claimed; production answers only
to its own name (#12.4)."""
from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest

from mkassa import create_app
from mkassa.config import SANDBOX_PUBLIC_BASE_URL, Settings, UnsafeConfiguration
from mkassa.services import outbox

BASE = "https://kassa.bank.example"
PRODUCTION = dict(bank_mode="production", secret_key="s" * 40, webhook_secret="whsec_" + "A" * 32,
                  database_url="postgresql+psycopg://127.0.0.1:1/never-connected", sms_gateway_url="https://sms.example",
                  corebank_url="https://core.example", session_cookie_secure=True, public_base_url=BASE,
                  redis_url="redis://127.0.0.1:6379/0",
                  sms_gateway_token="sms-token", corebank_token="bank-token", mail_server="smtp.example",
                  mail_sender="MKASSA <no-reply@bank.example>", outbox_inprocess=False)


def _csrf(client, path="/login"):
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_forged_host_header_does_not_reach_the_mailed_link(make_app, demo):
    app = make_app(public_base_url=BASE)
    from tests.conftest import FreshContextClient
    app.test_client_class = FreshContextClient
    client = app.test_client()
    token = _csrf(client)
    client.post("/login", data={"login": "demo", "password": "demo1234", "csrf_token": token})
    token = _csrf(client, "/shifts/email")
    # The attacker's own browser, signed in to his own shop, names another host in the request.
    client.set_cookie("mkassa", client.get_cookie("mkassa").value, domain="evil.example")
    response = client.post("/shifts/email", base_url="http://evil.example",
                           data={"email": "boss@example.com", "csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert outbox.dispatch_due() == 1
    newest = max((Path(app.instance_path) / "mail").glob("*.eml"), key=lambda p: int(p.stem))
    body = email.message_from_bytes(newest.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert re.search(re.escape(BASE) + r"/shifts/email/confirm\?token=[\w.\-]+", body)
    assert "evil.example" not in body


def test_production_refuses_to_start_without_a_public_https_address():
    for base in ("", "http://kassa.bank.example", "https://kassa.bank.example/app", "https://kassa.bank.example/?x=1"):
        with pytest.raises(UnsafeConfiguration, match="PUBLIC_BASE_URL"):
            Settings(**{**PRODUCTION, "public_base_url": base}).check()
    Settings(**PRODUCTION).check()


def test_sandbox_links_default_to_the_local_address_not_the_request(tmp_path):
    settings = Settings.from_env({"MKASSA_INSTANCE_PATH": str(tmp_path)}).with_defaults()
    assert settings.public_base_url == SANDBOX_PUBLIC_BASE_URL
    assert Settings.from_env({"PUBLIC_BASE_URL": BASE, "TRUSTED_PROXIES": "2"}).trusted_proxies == 2


def test_production_answers_only_to_its_public_host(tmp_path):
    app = create_app(Settings(**PRODUCTION, instance_path=str(tmp_path)))
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "kassa.bank.example"}, base_url="https://kassa.bank.example").status_code == 200
    assert client.get("/healthz", headers={"Host": "evil.example"}, base_url="https://evil.example").status_code == 400
