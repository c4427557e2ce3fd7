"""Web push (D5): subscribing, and a succeeded payment reaching the owner's browsers.

A local HTTP server plays the push service: it records what the outbox handler sends (VAPID
Authorization, encrypted body) and answers what the test tells it to. A key pair made here plays
the browser, so the test decrypts the body as the phone would.
"""
from __future__ import annotations

import base64
import json
import os
import re
import stat
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from sqlalchemy import func, select

from mkassa import signals
from mkassa.extensions import db
from mkassa.models import Merchant, OutboxMessage, Payment, Point, PushSubscription, User, utcnow
from mkassa.models.push import PUSH_ENDPOINT_MAX
from mkassa.services import outbox, push
from mkassa.services.auth import hash_password

FCM = "https://fcm.googleapis.com/fcm/send/"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """A push subscription's two secrets, held by the 'browser' so it can read what arrives."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        self.endpoint = endpoint

    def subscription_json(self) -> dict:
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth_secret)}}

    def read(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth_secret,
                                           version="aes128gcm"))


class PushService:
    """A push service on 127.0.0.1: records every request, answers `status` (201 by default)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 201
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                service.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


def stored_subscription(user: User, browser: Browser) -> PushSubscription:
    """Straight into the table: the subscribe endpoint (rightly) refuses a plain-http local host."""
    keys = browser.subscription_json()["keys"]
    sub = PushSubscription(user_id=user.id, endpoint=browser.endpoint, p256dh=keys["p256dh"], auth=keys["auth"])
    db.session.add(sub)
    db.session.commit()
    return sub


def succeed_payment(merchant: Merchant, point: Point | None, amount: int = 12345) -> Payment:
    """What the crediting code does, as far as push is concerned: the signal inside the transaction."""
    payment = Payment(merchant_id=merchant.id, point_id=point.id if point else None, method="qr", amount=amount,
                      status="succeeded", paid_at=utcnow(), finished_at=utcnow())
    db.session.add(payment)
    db.session.flush()
    signals.payment_succeeded.send(payment)
    db.session.commit()
    return payment


def push_messages() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "push")
                                   .order_by(OutboxMessage.id)))


def subscription_count() -> int:
    return db.session.scalar(select(func.count()).select_from(PushSubscription))


@pytest.fixture
def other_merchant(app):
    merchant = Merchant(legal_name="ОсОО Другой", display_name="Other", inn="01234567890123", mcc="5812",
                        account_number="1030120000099999", bank_name="Bank", bank_bic="103001",
                        account_opened_on=date(2024, 1, 1))
    db.session.add(merchant)
    db.session.flush()
    point = Point(merchant_id=merchant.id, name="Other point", address="Ош")
    owner = User(merchant_id=merchant.id, role="owner", login="other", name="Other Owner",
                 password_hash=hash_password("demo1234"))
    db.session.add_all([point, owner])
    db.session.commit()
    return type("Other", (), {"merchant": merchant, "point": point, "owner": owner})


class Page:
    """The /notifications page as push.js sees it: CSRF token, VAPID key, JSON posts."""

    def __init__(self, client):
        self.client = client
        body = client.get("/notifications").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', body).group(1)
        self.vapid_key = re.search(r'data-vapid-key="([^"]+)"', body).group(1)

    def post(self, action: str, data, csrf: bool = True):
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.client.post(f"/notifications/{action}", json=data, headers=headers)


# --------------------------------------------------------------------------------- subscribing


def test_owner_subscribes_and_unsubscribes_idempotently(client, auth, demo):
    auth.login("demo")
    page = Page(client)
    browser = Browser(FCM + "abc123")

    first = page.post("subscribe", browser.subscription_json())
    again = page.post("subscribe", browser.subscription_json())

    assert first.status_code == again.status_code == 200
    assert again.get_json()["devices"] == 1
    sub = db.session.scalar(select(PushSubscription))
    assert (sub.user_id, sub.endpoint) == (demo.owner.id, FCM + "abc123")
    assert "Notifications are on for 1 device." in client.get("/notifications").get_data(as_text=True)

    gone = page.post("unsubscribe", {"endpoint": FCM + "abc123"})
    gone_again = page.post("unsubscribe", {"endpoint": FCM + "abc123"})
    assert gone.status_code == gone_again.status_code == 200
    assert gone_again.get_json() == {"subscribed": False, "devices": 0,
                                     "devices_text": "Notifications are on for 0 devices."}
    assert subscription_count() == 0


def test_page_serves_our_vapid_public_key(app, client, auth, demo):
    auth.login("demo")
    page = Page(client)
    own = push.vapid_key(app.extensions["mkassa.settings"].instance_path)
    public = own.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert b64url_decode(page.vapid_key) == public and len(public) == 65
    body = client.get("/notifications").get_data(as_text=True)
    assert re.search(r'src="/static/js/push\.[0-9a-f]+\.js"', body) and "<script>" not in body  # CSP: script-src 'self'


def test_subscribe_needs_the_csrf_header(client, auth, demo):
    auth.login("demo")
    response = Page(client).post("subscribe", Browser(FCM + "x").subscription_json(), csrf=False)
    assert response.status_code == 400
    assert subscription_count() == 0


def test_cashiers_and_strangers_cannot_subscribe(client, auth, demo):
    anonymous = client.post("/notifications/subscribe", json=Browser(FCM + "a").subscription_json(),
                            headers={"X-CSRFToken": auth.csrf("/login")})
    assert anonymous.status_code == 401
    auth.login("cashier")
    assert client.get("/notifications").status_code == 403
    csrf = auth.csrf("/")
    response = client.post("/notifications/subscribe", json=Browser(FCM + "c").subscription_json(),
                           headers={"X-CSRFToken": csrf})
    assert response.status_code == 403
    assert subscription_count() == 0


@pytest.mark.parametrize("endpoint", [
    "http://fcm.googleapis.com/fcm/send/abc",  # not https
    "https://127.0.0.1/push",  # not a push service: the server must not be made to call it
    "https://fcm.googleapis.com.evil.example/abc",
    "https://user:pw@fcm.googleapis.com/abc",
    "",
    None,
])
def test_only_known_push_services_are_accepted(client, auth, demo, endpoint):
    auth.login("demo")
    data = Browser(FCM).subscription_json() | {"endpoint": endpoint}
    response = Page(client).post("subscribe", data)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"endpoint": "This browser gave an address that is not a known push service."}
    assert subscription_count() == 0


def test_endpoint_length_limit(client, auth, demo):
    auth.login("demo")
    page = Page(client)
    at_limit = FCM + "a" * (PUSH_ENDPOINT_MAX - len(FCM))
    assert page.post("subscribe", Browser(at_limit).subscription_json()).status_code == 200
    assert page.post("subscribe", Browser(at_limit + "b").subscription_json()).status_code == 422
    assert subscription_count() == 1


@pytest.mark.parametrize("keys", [
    {"p256dh": b64url(b"\x04" + b"\x01" * 63), "auth": b64url(b"a" * 16)},  # a point is 65 bytes
    {"p256dh": b64url(b"\x02" + b"\x01" * 64), "auth": b64url(b"a" * 16)},  # uncompressed only
    {"p256dh": None, "auth": b64url(b"a" * 16)},
    {"auth": b64url(b"a" * 15)},  # the auth secret is 16 bytes
    {"auth": "not base64!"},
])
def test_invalid_keys_are_refused(client, auth, demo, keys):
    auth.login("demo")
    data = Browser(FCM + "k").subscription_json()
    data["keys"] |= keys
    response = Page(client).post("subscribe", data)
    assert response.status_code == 422 and "keys" in response.get_json()["errors"]
    assert subscription_count() == 0


def test_a_browser_belongs_to_whoever_subscribed_it_last(client, auth, demo, other_merchant):
    browser = Browser(FCM + "shared-phone")
    auth.login("demo")
    Page(client).post("subscribe", browser.subscription_json())
    auth.logout()
    auth.login("other")
    Page(client).post("subscribe", browser.subscription_json())
    sub = db.session.scalar(select(PushSubscription))
    assert subscription_count() == 1 and sub.user_id == other_merchant.owner.id


def test_subscriptions_per_user_keep_the_newest(client, auth, demo):
    auth.login("demo")
    page = Page(client)
    for n in range(push.MAX_SUBSCRIPTIONS_PER_USER):
        assert page.post("subscribe", Browser(f"{FCM}device{n}").subscription_json()).status_code == 200
    assert subscription_count() == push.MAX_SUBSCRIPTIONS_PER_USER

    page.post("subscribe", Browser(FCM + "newest").subscription_json())

    endpoints = set(db.session.scalars(select(PushSubscription.endpoint)))
    assert len(endpoints) == push.MAX_SUBSCRIPTIONS_PER_USER
    assert FCM + "device0" not in endpoints and FCM + "newest" in endpoints


def test_vapid_key_is_generated_once_into_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    key = push.vapid_key(instance)
    path = instance / push.VAPID_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert push.application_server_key(instance) == push.application_server_key(instance)
    assert push.vapid_key(instance).private_pem() == key.private_pem()
    assert [p.name for p in instance.iterdir()] == [push.VAPID_KEY_FILE]  # no temporary file left


# ------------------------------------------------------------------------- payment → push service


def test_payment_reaches_every_owner_browser_through_the_outbox(app, demo, push_service):
    phone, laptop = Browser(push_service.origin + "/push/phone"), Browser(push_service.origin + "/push/laptop")
    stored_subscription(demo.owner, phone)
    stored_subscription(demo.owner, laptop)
    stored_subscription(demo.cashier, Browser(push_service.origin + "/push/cashier"))  # owners only

    payment = succeed_payment(demo.merchant, demo.points[1])
    signals.payment_succeeded.send(payment)  # a replayed signal queues nothing twice
    db.session.commit()

    assert len(push_messages()) == 2
    assert outbox.dispatch_due() == 2
    assert sorted(r["path"] for r in push_service.requests) == ["/push/laptop", "/push/phone"]
    settings = app.extensions["mkassa.settings"]
    for request in push_service.requests:
        headers = request["headers"]
        browser = phone if request["path"] == "/push/phone" else laptop
        # Authorization: vapid t=<JWT signed with our key>,k=<our public key> (RFC 8292).
        assert Vapid.verify(headers["authorization"])
        assert f"k={push.application_server_key(settings.instance_path)}" in headers["authorization"]
        token = re.search(r"t=([^,]+)", headers["authorization"]).group(1)
        claims = json.loads(b64url_decode(token.split(".")[1]))
        assert claims["aud"] == push_service.origin and claims["sub"] == settings.vapid_subject
        assert headers["content-encoding"] == "aes128gcm" and headers["ttl"] == str(push.PUSH_TTL_SECONDS)
        assert "Получен".encode() not in request["body"]  # encrypted on the wire
        # An owner who never chose a language gets the Bank's default, Russian.
        assert browser.read(request["body"]) == {"title": "Получен платёж: 123,45\u00a0сом",
                                                 "body": demo.points[1].name, "url": "/"}
    assert {m.status for m in push_messages()} == {"sent"}
    delivered = {s.endpoint.rsplit("/", 1)[1]: s.last_success_at is not None
                 for s in db.session.scalars(select(PushSubscription))}
    assert delivered == {"phone": True, "laptop": True, "cashier": False}


def test_notice_is_in_the_owner_language(demo, push_service):
    demo.owner.locale = "en"
    browser = Browser(push_service.origin + "/push/en")
    stored_subscription(demo.owner, browser)
    succeed_payment(demo.merchant, None, amount=123450)
    outbox.dispatch_due()
    notice = browser.read(push_service.requests[0]["body"])
    assert notice["title"] == "Payment received: 1,234.50\u00a0som" and notice["body"] == "Demo Shop"


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_removed_and_not_retried(demo, push_service, status):
    stored_subscription(demo.owner, Browser(push_service.origin + "/push/old"))
    push_service.status = status
    succeed_payment(demo.merchant, demo.points[0])

    outbox.dispatch_due()

    assert len(push_service.requests) == 1
    assert subscription_count() == 0
    assert [m.status for m in push_messages()] == ["sent"]
    succeed_payment(demo.merchant, demo.points[0])
    assert len(push_messages()) == 1  # nobody left to tell


def test_other_failures_are_retried_by_the_outbox(demo, push_service):
    sub = stored_subscription(demo.owner, Browser(push_service.origin + "/push/busy"))
    push_service.status = 503
    succeed_payment(demo.merchant, demo.points[0])

    assert outbox.dispatch_due() == 0
    message = push_messages()[0]
    assert (message.status, message.attempts) == ("pending", 1) and "503" in message.last_error
    assert db.session.get(PushSubscription, sub.id).failure_count == 1

    push_service.status = 201
    assert outbox.dispatch_due(now=utcnow() + timedelta(minutes=1)) == 1
    assert len(push_service.requests) == 2
    sub = db.session.get(PushSubscription, sub.id)
    assert (sub.failure_count, push_messages()[0].status) == (0, "sent")


def test_unreachable_push_service_is_retried(demo, push_service):
    stored_subscription(demo.owner, Browser(push_service.origin + "/push/x"))
    push_service.close()  # nothing listens on that port any more
    succeed_payment(demo.merchant, demo.points[0])
    assert outbox.dispatch_due() == 0
    assert push_messages()[0].status == "pending" and subscription_count() == 1


def test_no_push_for_another_merchant_payment(demo, other_merchant, push_service):
    stored_subscription(demo.owner, Browser(push_service.origin + "/push/demo"))
    other = Browser(push_service.origin + "/push/other")
    stored_subscription(other_merchant.owner, other)

    succeed_payment(other_merchant.merchant, other_merchant.point, amount=500)
    outbox.dispatch_due()

    assert [r["path"] for r in push_service.requests] == ["/push/other"]
    assert other.read(push_service.requests[0]["body"])["title"] == "Получен платёж: 5,00\u00a0сом"


def test_unsubscribed_before_delivery_sends_nothing(demo, push_service):
    sub = stored_subscription(demo.owner, Browser(push_service.origin + "/push/gone"))
    succeed_payment(demo.merchant, demo.points[0])
    db.session.delete(sub)
    db.session.commit()
    outbox.dispatch_due()
    assert push_service.requests == [] and [m.status for m in push_messages()] == ["sent"]
