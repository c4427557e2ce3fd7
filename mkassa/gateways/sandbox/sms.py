"""The sandbox side of `gateways.sms`: messages land in `sandbox_sms` (/sandbox/sms), never on a phone."""
from __future__ import annotations

from typing import Any

from ...extensions import db
from ...models import SandboxSms
from ...services import outbox


def store(settings, payload: dict[str, Any], msg: outbox.Delivery) -> None:
    # Same transaction as marking the outbox row sent: delivered exactly once.
    db.session.add(SandboxSms(outbox_id=msg.id, phone=payload["phone"],
                              sender=settings.sms_sender, text=payload["text"]))
