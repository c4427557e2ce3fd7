"""The production SMS adapter speaks HTTP JSON to the gateway; failures are retried by the outbox."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mkassa.config import Settings
from mkassa.gateways import sms
from mkassa.models import OutboxMessage


class Gateway(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Gateway.received.append((dict(self.headers), body))
        self.send_response(Gateway.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Gateway.received, Gateway.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sms"
    server.shutdown()
    server.server_close()


def _settings(url):
    return Settings(bank_mode="production", sms_gateway_url=url, sms_gateway_token="tok-123", sms_sender="333-SVK")


def test_posts_json_with_token_and_idempotency_key(gateway):
    msg = OutboxMessage(id=41, kind="sms", payload={})
    sms._post_to_gateway(_settings(gateway), {"phone": "+996555000111", "text": "hello"}, msg)
    headers, body = Gateway.received[0]
    assert body == {"sender": "333-SVK", "phone": "+996555000111", "text": "hello"}
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["Idempotency-Key"] == "mkassa-sms-41"


def test_gateway_error_raises_so_the_outbox_retries(gateway):
    Gateway.status = 503
    with pytest.raises(Exception):
        sms._post_to_gateway(_settings(gateway), {"phone": "+996555000111", "text": "x"},
                             OutboxMessage(id=42, kind="sms", payload={}))
