"""Error pages: translated, 4xx for bad input, never a stack trace or a secret."""
from __future__ import annotations

import pytest

from mkassa import security
from mkassa.config import MAX_REQUEST_BYTES


@pytest.mark.parametrize("lang,text", [("en", "Not found"), ("ru", "Не найдено"), ("ky", "Табылган жок")])
def test_404_is_translated(client, lang, text):
    client.set_cookie("lang", lang, domain="localhost")
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


def test_oversized_body_is_413_and_changes_nothing(client, demo):
    response = client.post("/login", data={"login": "demo", "password": "x" * (MAX_REQUEST_BYTES + 1)})
    assert response.status_code == 413


def test_wrong_method_is_405(client):
    assert client.get("/intro/done").status_code == 405


def test_csrf_failure_is_a_friendly_400(client):
    client.set_cookie("lang", "en", domain="localhost")
    response = client.post("/login", data={"login": "a", "password": "b"})
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)


def test_htmx_gets_an_error_fragment_not_a_page(client):
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 404 and "<html" not in body and 'data-testid="error"' in body


def test_unhandled_error_is_a_calm_500_without_details(make_app, caplog):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handler answers

    @app.get("/boom", endpoint="boom")
    def boom():
        raise RuntimeError("secret-detail-xyz")

    security.make_public("boom")
    try:
        response = app.test_client().get("/boom", headers={"Accept-Language": "en"})
    finally:
        security.PUBLIC_ENDPOINTS.discard("boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and "secret-detail-xyz" not in body and "Traceback" not in body
    assert "secret-detail-xyz" in caplog.text  # operators still get the traceback in the log


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "HX-Request" in response.headers["Vary"]
