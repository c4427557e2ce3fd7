"""Sign-in with bank-issued credentials (M1.2): sessions, deny by default, throttling."""
from __future__ import annotations

import re
from html import escape
from urllib.parse import parse_qs, urlsplit
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from mkassa.config import SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS
from mkassa.extensions import db
from mkassa.models import AuditEvent, User, UserSession, utcnow
from mkassa.services.auth import LOGIN_ADDRESS

NEUTRAL = "Wrong login or password."


def _after_quick_access(response) -> str:
    """Where sign-in leads once the quick-access offer is done with."""
    location = urlsplit(response.headers["Location"])
    assert location.path == "/quick-access"
    return parse_qs(location.query)["next"][0]


def _en(client):
    client.set_cookie("lang", "en", domain="localhost")


def test_demo_owner_signs_in_and_sees_home(client, auth, demo):
    response = auth.login("demo")
    # The first sign-in on a device offers quick access (M1.3) before going on to the home screen.
    assert response.status_code == 302 and _after_quick_access(response) == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert 'data-testid="today-total"' in home.get_data(as_text=True)


@pytest.mark.parametrize("login,password", [("demo", "wrong-password"), ("nobody", "demo1234"), ("", "")])
def test_wrong_credentials_get_one_neutral_message(client, auth, demo, login, password):
    _en(client)
    response = auth.login(login, password)
    body = response.get_data(as_text=True)
    assert response.status_code == 401
    assert NEUTRAL in body
    assert "sid" not in (client.get_cookie("mkassa").value if client.get_cookie("mkassa") else "")
    assert client.get("/").status_code == 302


def test_deactivated_user_cannot_sign_in(client, auth, demo):
    demo.cashier.active = False
    db.session.commit()
    assert auth.login("cashier").status_code == 401


def test_session_cookie_flags_and_rotation(client, auth, demo):
    auth.login("demo")
    first = client.get_cookie("mkassa")
    assert first.http_only and first.same_site == "Lax"
    auth.logout()
    auth.login("demo")
    second = client.get_cookie("mkassa")
    assert second.value != first.value
    # The old cookie is dead: its server-side session was revoked at logout.
    client.set_cookie("mkassa", first.value, domain="localhost")
    assert client.get("/").status_code == 302


def test_secure_cookie_when_configured(make_app, demo):
    app = make_app(session_cookie_secure=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")


@pytest.mark.parametrize("idle,alive", [(SESSION_IDLE_SECONDS - 1, True), (SESSION_IDLE_SECONDS + 1, False)])
def test_idle_timeout(client, auth, demo, idle, alive):
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login("demo")
        clock.shift(timedelta(seconds=idle))
        assert (client.get("/").status_code == 200) is alive


def test_absolute_timeout_even_when_active(client, auth, demo):
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login("demo")
        elapsed = 0
        while elapsed + 20 * 60 < SESSION_ABSOLUTE_SECONDS:
            clock.shift(timedelta(minutes=20))
            elapsed += 20 * 60
            assert client.get("/").status_code == 200
        clock.shift(timedelta(seconds=SESSION_ABSOLUTE_SECONDS - elapsed + 1))
        assert client.get("/").status_code == 302


def test_logout_revokes_server_side_session(client, auth, demo):
    auth.login("demo")
    auth.logout()
    assert db.session.scalar(select(UserSession.revoked_at)) is not None
    assert client.get("/").status_code == 302


def test_deactivation_ends_session_at_once(client, auth, demo):
    auth.login("cashier")
    assert client.get("/").status_code == 200
    db.session.get(User, demo.cashier.id).active = False
    db.session.commit()
    assert client.get("/").status_code == 302


def test_deny_by_default_redirects_anonymous_to_login(client, demo):
    response = client.get("/profile/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_htmx_request_without_session_gets_hx_redirect(client, demo):
    response = client.get("/history", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


# Each of these leads a browser to another host (a backslash reads as "/", tabs and newlines are
# dropped, leading controls stripped), directly or once some later step percent-decodes it.
OFF_SITE = ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "/\\evil.example/phish",
            "/%5Cevil.example/phish", "/%5cevil.example", "/%255Cevil.example", "\\/evil.example", "/\t/evil.example",
            "/\n/evil.example", "\t//evil.example", " //evil.example", "/%2F/evil.example", "/%2fevil.example",
            "/%252F/evil.example", "/%09/evil.example", "http:/evil.example", "/\x00/evil.example", "\x7f//evil.example"]


@pytest.mark.parametrize("target,expected", [("/profile/", "/profile/"),
                                             ("/history?q=a%20b&before=1%3A2", "/history?q=a%20b&before=1%3A2"),
                                             *[(t, "/") for t in OFF_SITE]])
def test_next_parameter_never_leaves_the_site(client, auth, demo, target, expected):
    token = auth.csrf()
    response = client.post("/login", query_string={"next": target},
                           data={"login": "demo", "password": "demo1234", "csrf_token": token})
    assert _after_quick_access(response) == expected
    # Every screen after it prints only the checked target into its links and its JSON.
    pin = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="{escape(expected)}" data-testid="pin-skip"' in pin
    offer = client.get("/quick-access/passkey", query_string={"next": target}).get_data(as_text=True)
    assert f'href="{escape(expected)}" data-testid="passkey-skip"' in offer


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_is_checked_again_where_it_is_rendered(app, target):
    from flask import render_template
    with app.test_request_context("/quick-access"):
        for template, testid in (("auth/pin.html", "pin-skip"), ("auth/passkey_offer.html", "passkey-skip")):
            html = render_template(template, step="new", errors={}, next=target)
            assert f'href="/" data-testid="{testid}"' in html


def test_post_without_csrf_is_refused_and_changes_nothing(client, auth, demo):
    response = client.post("/login", data={"login": "demo", "password": "demo1234"})
    assert response.status_code == 400
    assert db.session.scalar(select(UserSession.id)) is None


def test_wrong_passwords_are_throttled_per_address(client, auth, demo):
    _en(client)
    for _ in range(LOGIN_ADDRESS.limit):
        assert auth.login("demo", "wrong").status_code == 401
    response = auth.login("demo", "demo1234")
    assert response.status_code == 429
    # A person's message in the person's language, not the limiter's rule (#11).
    assert "Too many wrong passwords from this network. Try again in 15 minutes." in response.get_data(as_text=True)
    assert "per 15 minute" not in response.get_data(as_text=True)


def test_too_many_attempts_is_said_in_the_users_language(client, auth, demo):
    client.set_cookie("lang", "ru", domain="localhost")
    for _ in range(LOGIN_ADDRESS.limit):
        auth.login("demo", "wrong")
    body = auth.login("demo", "demo1234").get_data(as_text=True)
    assert "Слишком много неверных паролей" in body and "15 минут" in body


def test_sign_in_is_audited(client, auth, demo):
    auth.login("demo")
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.actor_id == demo.owner.id)) == "auth.login"


def test_password_never_in_response_or_log(client, auth, demo, caplog):
    caplog.set_level("DEBUG")
    body = auth.login("demo", "sup3r-secret-pw").get_data(as_text=True)
    assert "sup3r-secret-pw" not in body
    assert "sup3r-secret-pw" not in caplog.text
    assert not re.search(r"\$argon2", body)
