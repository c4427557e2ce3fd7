"""SMS gateway adapters (bank-interface.md §4), delivered from the outbox kind "sms"."""
from __future__ import annotations

import json
import urllib.request
from typing import Any

from flask import current_app

from ..models import OutboxMessage
from ..services import outbox
from .sandbox import sms as sandbox

HTTP_TIMEOUT_SECONDS = 10


def send_sms(payload: dict[str, Any], msg: outbox.Delivery) -> None:
    settings = current_app.extensions["mkassa.settings"]
    if settings.sandbox:
        sandbox.store(settings, payload, msg)
    else:
        _post_to_gateway(settings, payload, msg)
    # The text may carry a password or code: once delivered, the outbox keeps no copy of it.
    msg.payload = {"phone": payload["phone"], "text": "[delivered]"}


def _post_to_gateway(settings, payload: dict[str, Any], msg: outbox.Delivery | OutboxMessage) -> None:
    body = json.dumps({"sender": settings.sms_sender, "phone": payload["phone"],
                       "text": payload["text"]}).encode()
    request = urllib.request.Request(settings.sms_gateway_url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Authorization": f"Bearer {settings.sms_gateway_token}",
        # The gateway drops a repeated id, so a retry after a lost answer is not a second SMS.
        "Idempotency-Key": f"mkassa-sms-{msg.id}",
    })
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"SMS gateway answered {response.status}")


outbox.handler("sms")(send_sms)


def queue_sms(phone: str, text: str, *, dedupe_key: str | None = None) -> None:
    """Queue an SMS in the current transaction. The text may hold a secret: it is never logged."""
    outbox.enqueue("sms", {"phone": phone, "text": text}, dedupe_key=dedupe_key)
