"""Settings: the embedded default works out of the box; production refuses what is unsafe."""
from __future__ import annotations

import os
import stat

import pytest

from mkassa.config import Settings, UnsafeConfiguration

GOOD_PRODUCTION = dict(bank_mode="production", secret_key="s" * 40, webhook_secret="whsec_c2VjcmV0",
                       database_url="postgresql+psycopg://db/mkassa", sms_gateway_url="https://sms.bank",
                       corebank_url="https://core.bank", session_cookie_secure=True,
                       sms_gateway_token="sms-token", corebank_token="bank-token", mail_server="smtp.bank",
                       mail_sender="MKASSA <no-reply@bank.example>",
                       public_base_url="https://kassa.bank", redis_url="redis://127.0.0.1:6379/0")


def test_embedded_default_generates_secrets_once(tmp_path):
    first = Settings.from_env({"MKASSA_INSTANCE_PATH": str(tmp_path)}).with_defaults()
    second = Settings.from_env({"MKASSA_INSTANCE_PATH": str(tmp_path)}).with_defaults()
    assert first.secret_key and first.secret_key == second.secret_key
    assert first.webhook_secret.startswith("whsec_")
    assert first.database_url == f"sqlite:///{tmp_path / 'mkassa.sqlite3'}"
    for name in ("secret_key.secret", "webhook_secret.secret"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    first.check()


def test_environment_is_read_into_typed_settings():
    settings = Settings.from_env({"BANK_MODE": "sandbox", "PAYMENT_LIFETIME_SECONDS": "90",
                                  "REDIS_URL": "redis://127.0.0.1:6379/0", "SESSION_COOKIE_SECURE": "yes"})
    assert settings.payment_lifetime_seconds == 90
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.session_cookie_secure is True and settings.sandbox


def test_every_field_is_read_from_the_variable_of_its_name():
    """One rule (field name in capitals), so no field lacks its variable (MAIL_SENDER once did)."""
    from dataclasses import fields

    from mkassa.config import NOT_FROM_ENV
    samples = {"str": "value-from-env", "int": "7", "bool": "yes"}
    for f in fields(Settings):
        if f.name in NOT_FROM_ENV:
            continue
        settings = Settings.from_env({f.name.upper(): samples[f.type]})
        assert getattr(settings, f.name) == {"str": "value-from-env", "int": 7, "bool": True}[f.type], f.name


def test_mail_settings_come_from_the_environment():
    settings = Settings.from_env({"MAIL_SENDER": "MKASSA <shifts@bank.kg>", "MAIL_PORT": "587",
                                  "MAIL_USE_TLS": "1", "MAIL_USERNAME": "mkassa", "MAIL_PASSWORD": "pw"})
    assert (settings.mail_sender, settings.mail_port, settings.mail_use_tls, settings.mail_username) == \
        ("MKASSA <shifts@bank.kg>", 587, True, "mkassa")
    assert settings.public_dict()["mail_password"] == "***"


def test_a_number_that_is_not_one_is_refused_by_name():
    with pytest.raises(UnsafeConfiguration, match="MAIL_PORT"):
        Settings.from_env({"MAIL_PORT": "twenty-five"})


def test_production_with_safe_settings_starts():
    Settings(**GOOD_PRODUCTION).check()


@pytest.mark.parametrize("change,complaint", [
    ({"secret_key": ""}, "SECRET_KEY"),
    ({"secret_key": "short"}, "SECRET_KEY"),
    ({"webhook_secret": ""}, "WEBHOOK_SECRET"),
    ({"database_url": "sqlite:///x.db"}, "SQLite"),
    ({"sms_gateway_url": ""}, "sandbox adapters"),
    ({"corebank_url": ""}, "sandbox adapters"),
    ({"session_cookie_secure": False}, "SESSION_COOKIE_SECURE"),
    ({"sms_gateway_token": ""}, "SMS_GATEWAY_TOKEN is required"),
    ({"corebank_token": ""}, "COREBANK_TOKEN is required"),
    ({"mail_server": ""}, "MAIL_SERVER is required"),
    # Production runs separate processes (web workers, outbox workers): live updates and rate
    # limits are shared between them only through Redis.
    ({"redis_url": ""}, "REDIS_URL is required"),
    ({"mail_sender": "MKASSA <no-reply@mkassa.local>"}, "MAIL_SENDER"),
    ({"mail_username": "mkassa"}, "MAIL_PASSWORD is required"),
    ({"mail_use_tls": True, "mail_use_ssl": True}, "exclude each other"),
    ({"public_base_url": ""}, "PUBLIC_BASE_URL"),
    ({"public_base_url": "http://kassa.bank"}, "PUBLIC_BASE_URL"),
])
def test_production_refuses_unsafe_settings(change, complaint):
    with pytest.raises(UnsafeConfiguration, match=complaint):
        Settings(**{**GOOD_PRODUCTION, **change}).check()


def test_unknown_bank_mode_is_refused():
    with pytest.raises(UnsafeConfiguration, match="BANK_MODE"):
        Settings(bank_mode="test").check()


def test_the_largest_payment_setting_stays_under_the_one_amount_ceiling():
    from mkassa.money import MAX_AMOUNT
    Settings(max_payment_tyiyn=MAX_AMOUNT).check()
    for wrong in (MAX_AMOUNT + 1, 0):
        with pytest.raises(UnsafeConfiguration, match="MAX_PAYMENT_TYIYN"):
            Settings(max_payment_tyiyn=wrong).check()


def test_public_dict_masks_secrets():
    shown = Settings(**GOOD_PRODUCTION).public_dict()
    assert shown["secret_key"] == "***" and shown["webhook_secret"] == "***"
    assert "s" * 40 not in repr(shown)


def test_production_app_does_not_mount_the_sandbox(tmp_path):
    from mkassa import create_app
    app = create_app(Settings(**{**GOOD_PRODUCTION, "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/x",
                                 "instance_path": str(tmp_path)}))
    assert not any(rule.endpoint.startswith("sandbox.") for rule in app.url_map.iter_rules())


@pytest.mark.parametrize("template", ["mpos://pay?id={payment_id}&sum={amount}", "mpos://pay"])
def test_an_mpos_url_template_must_carry_the_payment_amount_and_return_url(template):
    with pytest.raises(UnsafeConfiguration, match="MPOS_URL_TEMPLATE"):
        Settings(mpos_url_template=template).check()
    Settings(mpos_url_template="mpos://pay?id={payment_id}&sum={amount}&back={return_url}").check()


def test_card_answer_seconds_must_be_positive():
    with pytest.raises(UnsafeConfiguration, match="CARD_ANSWER_SECONDS"):
        Settings(card_answer_seconds=0).check()
