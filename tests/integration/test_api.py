"""Partner REST API /api/v1 (#18): keys, payments, scoping, errors, idempotency, rate limit, callbacks."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from mkassa.extensions import db
from mkassa.models import ApiCallback, ApiKey, Payment, Point
from mkassa.services import outbox, partner_api
from mkassa.services.callbacks import check_callback_url

from .test_pay_qr import post_event, succeeded


def settings_of(app):
    return app.extensions["mkassa.settings"]


def new_key(app, demo, point: Point | None = None, name: str = "Shop site") -> partner_api.NewKey:
    made = partner_api.create_key(demo.owner, name, point.public_id if point else None, settings_of(app))
    db.session.commit()
    return made


def bearer(made: partner_api.NewKey, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {made.token}", "Accept-Language": "en", **headers}


def create(client, made, body: dict, **headers):
    return client.post("/api/v1/payments", json=body, headers=bearer(made, **headers))


def test_a_key_is_shown_once_and_stored_only_as_its_hash(app, demo):
    made = new_key(app, demo)
    assert made.token.startswith("mk_test_") and len(made.token) > 40
    assert made.callback_secret.startswith("whsec_")
    row = db.session.get(ApiKey, made.key.id)
    stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
    assert made.token not in stored and made.token[SHOWN:] not in stored
    assert row.key_hash == partner_api.key_hash(made.token) and row.prefix == made.token[:SHOWN]


SHOWN = partner_api.SHOWN_PREFIX_LENGTH


def test_create_get_and_no_cookie_no_csrf(app, client, demo):
    made = new_key(app, demo)
    point = demo.points[0]
    response = create(client, made, {"amount": 9900, "point_id": point.public_id, "order_ref": "A-1",
                                     "description": "Coffee"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    body = response.json
    assert (body["amount"], body["currency"], body["status"], body["point_id"], body["order_ref"]) == (
        9900, "KGS", "pending", point.public_id, "A-1")
    assert body["elqr_link"].startswith("https://") and body["qr_svg_url"].endswith(f"/{body['id']}/qr.svg")
    assert response.headers["Location"] == f"/api/v1/payments/{body['id']}"
    got = client.get(f"/api/v1/payments/{body['id']}", headers=bearer(made))
    assert got.status_code == 200 and got.json == body and "Set-Cookie" not in got.headers
    svg = client.get(f"/api/v1/payments/{body['id']}/qr.svg", headers=bearer(made))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    payment = db.session.scalar(select(Payment).where(Payment.public_id == body["id"]))
    assert (payment.cashier_id, payment.merchant_id, payment.amount) == (None, demo.merchant.id, 9900)
    assert db.session.get(ApiKey, made.key.id).last_used_at is not None


def test_no_key_bad_key_and_revoked_key_are_401_problems(app, client, demo):
    made = new_key(app, demo)
    assert client.get("/api/v1/points", headers=bearer(made)).status_code == 200
    for headers in ({}, {"Authorization": "Bearer mk_test_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/points", headers=headers)
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
        assert response.json["code"] == "unauthorized" and response.headers["WWW-Authenticate"].startswith("Bearer")
    partner_api.revoke_key(demo.owner, db.session.get(ApiKey, made.key.id))
    db.session.commit()
    refused = client.get("/api/v1/points", headers=bearer(made))
    assert refused.status_code == 401 and refused.json["code"] == "unauthorized"


@pytest.mark.parametrize("language, word", [("en", "whole number"), ("ru", "целым"), ("ky", "бүтүн")])
def test_validation_problem_in_the_callers_language(app, client, demo, language, word):
    made = new_key(app, demo)
    response = create(client, made, {"amount": "99,00", "point_id": demo.points[0].public_id},
                      **{"Accept-Language": language})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["code"] == "validation_failed" and problem["status"] == 422
    assert set(problem["errors"]) == {"amount"} and word in problem["errors"]["amount"]
    assert db.session.scalar(select(func.count()).select_from(Payment).where(Payment.cashier_id.is_(None))) == 0


@pytest.mark.parametrize("body, field", [
    ({"amount": 0}, "amount"), ({"amount": True}, "amount"), ({"amount": 100_000_001}, "amount"),
    ({"amount": 100, "point_id": "nope"}, "point_id"), ({"amount": 100, "order_ref": "x" * 65}, "order_ref"),
    ({"amount": 100, "callback_url": "ftp://example.com/x"}, "callback_url"),
])
def test_bad_input_names_its_field(app, client, demo, body, field):
    made = new_key(app, demo, point=demo.points[0])
    response = create(client, made, body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_a_body_that_is_not_a_json_object_is_400(app, client, demo):
    made = new_key(app, demo)
    response = client.post("/api/v1/payments", data="amount=1", headers=bearer(made))
    assert response.status_code == 400 and response.json["code"] == "invalid_json"


def test_the_largest_amount_is_accepted(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    top = settings_of(app).max_payment_tyiyn
    assert create(client, made, {"amount": top}).status_code == 201


def test_idempotency_same_body_same_answer_other_body_409(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    first = create(client, made, {"amount": 9900}, **{"Idempotency-Key": "order-77"})
    again = create(client, made, {"amount": 9900}, **{"Idempotency-Key": "order-77"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = create(client, made, {"amount": 9901}, **{"Idempotency-Key": "order-77"})
    assert other.status_code == 409 and other.json["code"] == "idempotency_key_reused"
    assert db.session.scalar(select(func.count()).select_from(Payment).where(Payment.cashier_id.is_(None))) == 1
    # Another key's same Idempotency-Key is its own.
    second = new_key(app, demo, point=demo.points[0], name="Till")
    assert create(client, second, {"amount": 9900}, **{"Idempotency-Key": "order-77"}).status_code == 201


def test_a_point_key_sees_and_uses_only_its_point(app, client, demo):
    here, there = demo.points[0], demo.points[1]
    point_key, merchant_key = new_key(app, demo, point=here), new_key(app, demo, name="Back office")
    theirs = create(client, merchant_key, {"amount": 500, "point_id": there.public_id}).json
    mine = create(client, point_key, {"amount": 600}).json
    assert mine["point_id"] == here.public_id
    assert client.get(f"/api/v1/payments/{theirs['id']}", headers=bearer(point_key)).status_code == 404
    assert client.post(f"/api/v1/payments/{theirs['id']}/cancel", headers=bearer(point_key)).status_code == 404
    assert client.get(f"/api/v1/points/{there.public_id}/static-qr", headers=bearer(point_key)).status_code == 404
    refused = create(client, point_key, {"amount": 600, "point_id": there.public_id})
    assert refused.status_code == 422 and "point_id" in refused.json["errors"]
    assert [p["id"] for p in client.get("/api/v1/points", headers=bearer(point_key)).json["data"]] == [here.public_id]
    listed = client.get("/api/v1/payments?period=month", headers=bearer(point_key)).json["data"]
    assert listed and {p["point_id"] for p in listed} == {here.public_id}
    everything = client.get("/api/v1/payments?period=month", headers=bearer(merchant_key)).json["data"]
    assert {theirs["id"], mine["id"]} <= {p["id"] for p in everything}
    static = client.get(f"/api/v1/points/{here.public_id}/static-qr", headers=bearer(point_key)).json
    assert static["elqr_link"].startswith("https://")


def test_another_merchants_key_sees_nothing(app, client, demo):
    from tests.integration.test_access_matrix import _merchant_b
    _merchant_b()
    from mkassa.models import User
    owner_b = db.session.scalar(select(User).where(User.login == "betaowner"))
    made_b = partner_api.create_key(owner_b, "B", None, settings_of(app))
    db.session.commit()
    made_a = new_key(app, demo, point=demo.points[0])
    paid = create(client, made_a, {"amount": 700}).json
    assert client.get(f"/api/v1/payments/{paid['id']}", headers=bearer(made_b)).status_code == 404
    ids = {p["id"] for p in client.get("/api/v1/points", headers=bearer(made_b)).json["data"]}
    assert not ids & {p.public_id for p in demo.points}


def test_cancel_a_pending_payment_once(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    paid = create(client, made, {"amount": 800}).json
    cancelled = client.post(f"/api/v1/payments/{paid['id']}/cancel", headers=bearer(made))
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = client.post(f"/api/v1/payments/{paid['id']}/cancel", headers=bearer(made))
    assert again.status_code == 409 and again.json["code"] == "payment_not_pending"


def test_list_pages_with_a_cursor_and_filters(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    created = [create(client, made, {"amount": 100 + i}).json["id"] for i in range(3)]
    first = client.get("/api/v1/payments?limit=2&status=pending", headers=bearer(made)).json
    assert [p["id"] for p in first["data"]] == created[::-1][:2] and first["next_cursor"]
    second = client.get(f"/api/v1/payments?limit=2&status=pending&cursor={first['next_cursor']}",
                        headers=bearer(made)).json
    assert [p["id"] for p in second["data"]][:1] == [created[0]]
    bad = client.get("/api/v1/payments?cursor=zzz", headers=bearer(made))
    assert bad.status_code == 400 and bad.json["code"] == "bad_cursor"
    for query in ("limit=0", f"limit={101}", "status=paid", "method=cash", "from=2026-13-01"):
        refused = client.get(f"/api/v1/payments?{query}", headers=bearer(made))
        assert refused.status_code == 422, query
    assert client.get("/api/v1/payments?limit=100", headers=bearer(made)).status_code == 200
    unknown = client.get("/api/v1/payments?colour=red", headers=bearer(made))
    assert unknown.status_code == 400 and unknown.json["code"] == "unknown_parameter"


def test_list_totals_match_the_reports(app, client, demo):
    """The month's paid payments through the API add up to what the reports screen counts."""
    from mkassa.services import reports
    from mkassa.scope import select_for
    made = new_key(app, demo)
    total, cursor = 0, None
    count = 0
    while True:
        page = client.get("/api/v1/payments?period=month&status=succeeded&limit=100"
                          + (f"&cursor={cursor}" if cursor else ""), headers=bearer(made)).json
        total += sum(p["amount"] for p in page["data"])
        count += len(page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    f = reports.parse_filter({"period": "month", "status": "succeeded"}, list(demo.points), [])
    summary = reports.summarize(reports.apply(select_for(Payment, demo.owner), f), f)
    assert (total, count) == (summary.amount, summary.count) and count > 0


def test_rate_limit_per_key(make_app, demo):
    app = make_app(api_rate_limit="3 per minute", ratelimit_key_prefix="api-test")
    with app.app_context():
        from mkassa.models import User
        owner = db.session.scalar(select(User).where(User.login == "demo"))
        first = partner_api.create_key(owner, "one", None, settings_of(app))
        second = partner_api.create_key(owner, "two", None, settings_of(app))
        db.session.commit()
    client = app.test_client()
    answers = [client.get("/api/v1/points", headers=bearer(first)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = client.get("/api/v1/points", headers=bearer(first))
    assert limited.json["code"] == "rate_limited" and "Retry-After" in limited.headers
    assert client.get("/api/v1/points", headers=bearer(second)).status_code == 200


def test_unknown_api_path_and_method_are_problems(app, client, demo):
    made = new_key(app, demo)
    assert client.get("/api/v1/nothing", headers=bearer(made)).json["code"] == "not_found"
    response = client.delete("/api/v1/points", headers=bearer(made))
    assert response.status_code == 405 and response.json["code"] == "method_not_allowed"


# ---------------------------------------------------------------------------------------- callbacks


class Partner:
    """A partner's callback endpoint on localhost: answers the statuses given in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses, self.received = list(statuses), []
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                partner.received.append(({k.lower(): v for k, v in self.headers.items()}, body.decode()))
                status = partner.statuses.pop(0) if partner.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/mkassa/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def verified(made, headers: dict, body: str) -> dict:
    return Webhook(made.callback_secret).verify(body, headers)


def test_paid_payment_calls_back_signed_and_retries_after_a_500(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    with Partner(statuses=[500]) as partner:
        paid = create(client, made, {"amount": 9900, "callback_url": partner.url, "order_ref": "A-9"}).json
        payment = db.session.scalar(select(Payment).where(Payment.public_id == paid["id"]))
        assert post_event(client, succeeded(payment)).status_code == 200
        db.session.commit()
        outbox.dispatch_due()
        [callback] = db.session.scalars(select(ApiCallback))
        assert (callback.status, callback.attempts, callback.tries[0].status_code) == ("pending", 1, 500)
        # The outbox retries after its back-off: the partner now answers 200.
        from datetime import timedelta

        from mkassa.models import utcnow
        outbox.dispatch_due(now=utcnow() + timedelta(seconds=outbox.backoff_seconds(1) + 1))
    db.session.expire_all()
    callback = db.session.get(ApiCallback, callback.id)
    assert (callback.status, callback.attempts, [t.status_code for t in callback.tries]) == ("delivered", 2, [500, 200])
    assert len(partner.received) == 2
    (h1, b1), (h2, b2) = partner.received
    assert b1 == b2 and h1["webhook-id"] == h2["webhook-id"] == callback.webhook_id
    event = verified(made, h2, b2)
    assert event["type"] == "payment.succeeded"
    # The body is what the OpenAPI document's `webhooks` promise partners.
    import jsonschema_rs

    from mkassa.blueprints.api.openapi import DOCUMENT
    schema = {"$ref": "#/components/schemas/CallbackEvent", "components": DOCUMENT["components"]}
    jsonschema_rs.validator_for(schema).validate(json.loads(b2))
    assert not jsonschema_rs.validator_for(schema).is_valid({**json.loads(b2), "type": "payment.paid"})
    assert (event["data"]["id"], event["data"]["status"], event["data"]["amount"], event["data"]["order_ref"]) == (
        paid["id"], "succeeded", 9900, "A-9")
    assert event["data"]["paid_at"]
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(b2, h2)


def test_profile_and_console_show_each_attempt(app, client, demo, admin_user):
    made = new_key(app, demo, point=demo.points[0])
    with Partner(statuses=[500]) as partner:
        paid = create(client, made, {"amount": 4200, "callback_url": partner.url}).json
        client.post(f"/api/v1/payments/{paid['id']}/cancel", headers=bearer(made))
        outbox.dispatch_due()
    from .test_access_matrix import Visitor
    owner = Visitor(app, "owner", ("demo", "demo1234")).client
    page = owner.get("/profile/api-keys").get_data(as_text=True)
    assert 'data-testid="api-callback"' in page and "payment.cancelled" in page and "HTTP 500" in page
    operator = Visitor(app, "admin", (admin_user.login, "operator-pass-1")).client
    console = operator.get("/admin/callbacks").get_data(as_text=True)
    assert 'data-testid="callback-row"' in console and "HTTP 500" in console and partner.url in console
    assert operator.get("/admin/callbacks?status=delivered").get_data(as_text=True).count("callback-row") == 0


def test_cancel_calls_back_and_payments_without_a_url_do_not(app, client, demo):
    made = new_key(app, demo, point=demo.points[0])
    with Partner() as partner:
        with_url = create(client, made, {"amount": 100, "callback_url": partner.url}).json
        without = create(client, made, {"amount": 200}).json
        client.post(f"/api/v1/payments/{with_url['id']}/cancel", headers=bearer(made))
        client.post(f"/api/v1/payments/{without['id']}/cancel", headers=bearer(made))
        outbox.dispatch_due()
    [(headers, body)] = partner.received
    assert verified(made, headers, body)["type"] == "payment.cancelled"


def test_a_callback_the_partner_never_takes_ends_dead(app, client, demo, monkeypatch):
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 2)
    made = new_key(app, demo, point=demo.points[0])
    with Partner(statuses=[500, 503]) as partner:
        paid = create(client, made, {"amount": 100, "callback_url": partner.url}).json
        client.post(f"/api/v1/payments/{paid['id']}/cancel", headers=bearer(made))
        from datetime import timedelta

        from mkassa.models import utcnow
        outbox.dispatch_due()
        outbox.dispatch_due(now=utcnow() + timedelta(hours=1))
    db.session.expire_all()
    [callback] = db.session.scalars(select(ApiCallback))
    assert (callback.status, callback.attempts) == ("dead", 2)


# --------------------------------------------------------------------------------------------- SSRF


class Prod:
    sandbox = False
    public_base_url = "https://kassa.bank.kg"


class Sandbox:
    sandbox = True
    public_base_url = "http://localhost"


def resolver(*addresses):
    return lambda host: list(addresses)


@pytest.mark.parametrize("url, addresses", [
    ("http://shop.example.com/cb", ["93.184.216.34"]),          # not https
    ("https://shop.example.com/cb", ["127.0.0.1"]),             # loopback
    ("https://shop.example.com/cb", ["10.1.2.3"]),              # private
    ("https://shop.example.com/cb", ["192.168.0.10"]),
    ("https://shop.example.com/cb", ["169.254.169.254"]),       # cloud metadata (link-local)
    ("https://shop.example.com/cb", ["93.184.216.34", "::1"]),  # one bad address is enough
    ("https://shop.example.com/cb", ["fd00::1"]),
    ("https://shop.example.com/cb", ["100.64.0.1"]),            # carrier-grade NAT
    ("https://kassa.bank.kg/bank/webhooks", ["93.184.216.34"]),  # MKASSA itself
    ("https://api.kassa.bank.kg/x", ["93.184.216.34"]),
    ("https://user:pw@shop.example.com/cb", ["93.184.216.34"]),
    ("https://[::1]/cb", ["::1"]),
])
def test_ssrf_guard_refuses_in_production(url, addresses):
    assert check_callback_url(url, Prod, resolve=resolver(*addresses)) is not None


def test_ssrf_guard_allows_a_public_https_url_and_the_sandbox_allows_local():
    assert check_callback_url("https://shop.example.com/cb", Prod, resolve=resolver("93.184.216.34")) is None
    assert check_callback_url("http://127.0.0.1:8000/cb", Sandbox) is None

    def unknown(host):
        raise OSError("no such host")
    assert check_callback_url("https://nowhere.invalid/cb", Prod, resolve=unknown) is not None


def test_a_payments_refunds_are_read_through_its_key_only(app, client, demo):
    from mkassa.models import Refund
    here, there = demo.points[0], demo.points[1]
    paid = db.session.scalar(select(Payment).where(Payment.point_id == here.id, Payment.status == "succeeded")
                             .order_by(Payment.id).limit(1))
    db.session.add_all([
        Refund(merchant_id=demo.merchant.id, payment_id=paid.id, requested_by_id=demo.owner.id, amount=100,
               status="succeeded", finished_at=paid.paid_at),
        Refund(merchant_id=demo.merchant.id, payment_id=paid.id, requested_by_id=demo.owner.id, amount=50,
               status="requested")])  # still waiting for its SMS code: not a refund yet
    db.session.commit()
    point_key, other_point = new_key(app, demo, point=here), new_key(app, demo, point=there, name="Other")
    listed = client.get(f"/api/v1/payments/{paid.public_id}/refunds", headers=bearer(point_key))
    assert listed.status_code == 200
    assert [(r["amount"], r["status"], r["payment_id"]) for r in listed.json["data"]] == [
        (100, "succeeded", paid.public_id)]
    hidden = client.get(f"/api/v1/payments/{paid.public_id}/refunds", headers=bearer(other_point))
    assert hidden.status_code == 404 and hidden.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/payments/{paid.public_id}/refunds").status_code == 401
