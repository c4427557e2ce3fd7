"""Hardening (#12.9): private responses are never stored, the CSP allows no inline code or style, HSTS
in production, and the sandbox's tools (and its mark on every page) exist only in sandbox mode."""
from __future__ import annotations

import re

import pytest

from mkassa import CACHEABLE_ENDPOINTS, HSTS_MAX_AGE_SECONDS, create_app
from mkassa.config import Settings

from .test_access_matrix import Visitor, urls, world  # noqa: F401  (world is a fixture)

SANDBOX_MARK = "Sandbox: not a real bank"


def test_every_signed_in_page_and_fragment_is_no_store(app, world):  # noqa: F811
    """Walks every GET of the url map as A's owner, A's cashier and the bank admin, as a page and as an
    htmx fragment: whatever the answer (a page, a fragment, a file, a stream, a refusal), no copy is kept."""
    visitors = [Visitor(app, "owner_a", ("demo", "demo1234")), Visitor(app, "cashier_a", ("cashier", "demo1234")),
                Visitor(app, "admin", world.logins["admin"])]
    seen, problems = set(), []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in CACHEABLE_ENDPOINTS:
            continue
        for path, _objects in urls(world, rule):
            for visitor in visitors:
                for headers in ({}, {"HX-Request": "true"}):
                    with visitor.client.get(path, headers=headers, buffered=False) as response:
                        seen.add((rule.endpoint, response.status_code // 100))
                        if response.headers.get("Cache-Control") != "no-store":
                            problems.append(f"GET {path} as {visitor.name} {headers}: {response.status_code}, "
                                            f"Cache-Control {response.headers.get('Cache-Control')!r}")
                        if visitor.signed_out():
                            visitor.sign_in()
    assert not problems, "\n".join(problems)
    endpoints = {endpoint for endpoint, _status in seen}
    assert {"home.index", "home.history", "reports.rows", "shifts.index", "admin.index", "pay.new"} <= endpoints
    assert {2, 4} <= {status for _endpoint, status in seen}  # pages and refusals alike
    assert len(endpoints) > 40


def test_form_errors_and_anonymous_pages_are_no_store_too(client, auth, demo):
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    auth.login("demo")
    response = client.post("/pay/", data={"amount": "abc", "csrf_token": auth.csrf("/pay/")})
    assert response.status_code == 422 and response.headers["Cache-Control"] == "no-store"


def test_the_app_shell_stays_cacheable(client):
    with client.get("/static/css/app.css") as response:
        assert response.status_code == 200 and response.headers.get("Cache-Control") != "no-store"
    assert client.get("/sw.js").headers["Cache-Control"] == "no-cache"
    assert client.get("/manifest.webmanifest").headers["Cache-Control"] == "no-cache"


def test_the_csp_allows_no_inline_style_or_script(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["style-src"] == "'self'" and directives["script-src"] == "'self'"
    assert "unsafe" not in policy


def test_no_template_writes_an_inline_style_or_script(app):
    """What the browser test cannot reach: no template of a page holds style="" or an inline script.
    (E-mails are not pages: mail clients need inline styles, and no CSP applies to them.)"""
    from pathlib import Path
    root = Path(app.root_path) / "templates"
    offenders = []
    for template in root.rglob("*.html"):
        if template.relative_to(root).parts[0] == "emails":
            continue
        text = template.read_text()
        if re.search(r"\sstyle\s*=", text) or re.search(r"<style\b", text) or re.search(r"\son[a-z]+\s*=", text) \
                or re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(str(template.relative_to(root)))
    assert offenders == []


def production_app(tmp_path):
    return create_app(Settings(
        bank_mode="production", secret_key="s" * 40, webhook_secret="whsec_c2VjcmV0",
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/x", sms_gateway_url="https://sms.bank",
        corebank_url="https://core.bank", session_cookie_secure=True, instance_path=str(tmp_path),
        sms_gateway_token="sms-token", corebank_token="bank-token", mail_server="smtp.bank",
        mail_sender="MKASSA <no-reply@bank.example>", public_base_url="https://mkassa.example",
        redis_url="redis://127.0.0.1:6379/0",
        outbox_inprocess=False))


def test_production_sends_hsts_and_the_sandbox_does_not(client, tmp_path):
    production = production_app(tmp_path)
    response = production.test_client().get("/login", base_url="https://mkassa.example")
    assert response.headers["Strict-Transport-Security"] == f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains"
    assert HSTS_MAX_AGE_SECONDS >= 365 * 24 * 3600
    assert SANDBOX_MARK not in response.get_data(as_text=True)
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_production_can_never_mount_the_sandbox_inboxes(tmp_path):
    production = production_app(tmp_path)
    assert not [rule.rule for rule in production.url_map.iter_rules()
                if rule.rule.startswith("/sandbox") or rule.endpoint.startswith("sandbox.")]
    visitor = production.test_client()
    for path in ("/sandbox/sms", "/sandbox/sms.json", "/sandbox/pay", "/sandbox/mail"):
        assert visitor.get(path, base_url="https://mkassa.example").status_code == 404
    # Even a "sandbox" view mounted by mistake would ask for a signed-in user in production.
    from mkassa.security import is_public
    with production.test_request_context():
        assert not is_public("sandbox.sms") and not is_public("sandbox.sms_json")


@pytest.mark.parametrize("path", ["/sandbox/sms", "/sandbox/sms.json"])
def test_the_sandbox_inboxes_stay_open_in_sandbox_mode(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/login", "/sandbox/sms", "/sandbox/pay", "/offline", "/no-such-page"])
def test_every_sandbox_page_carries_the_sandbox_mark(client, path):
    body = client.get(path).get_data(as_text=True)
    assert body.count('data-testid="sandbox-mark"') == 1 and SANDBOX_MARK in body


def test_the_sandbox_mark_is_on_signed_in_pages_and_translated(client, auth, demo):
    auth.login("demo")
    assert SANDBOX_MARK in client.get("/").get_data(as_text=True)
    client.set_cookie("lang", "ru", domain="localhost")
    russian = client.get("/").get_data(as_text=True)
    assert 'data-testid="sandbox-mark"' in russian and SANDBOX_MARK not in russian
