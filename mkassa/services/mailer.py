"""E-mail through the outbox: composed when it is delivered, then sent with Flask-Mail.

A message is queued (kind "email") in the transaction that caused it; the outbox handler composes it
from the database as it is then (an address changed in the meantime is respected) and sends it. An
SMTP failure raises, so the outbox retries with back-off; a message is marked sent only after the SMTP
server accepted it.

Without an SMTP server (`make run` leaves MAIL_SERVER empty, so Flask-Mail suppresses sending) the
message is written to instance/mail/<outbox id>.eml for a developer to open, and only its recipient
and subject are logged, never its body.
"""
from __future__ import annotations

import email
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from flask import current_app
import flask_mail
from flask_mail import Message

from ..extensions import db
from ..models import OutboxMessage
from . import outbox

log = logging.getLogger(__name__)

KIND = "email"
# Folder under instance/ where e-mail lands when no SMTP server is configured.
MAIL_DIR = "mail"
# Connecting to and talking with the SMTP server: past this, the attempt fails and is retried later.
SMTP_TIMEOUT_SECONDS = 20
# The sandbox mail page lists at most this many of the newest messages.
STORED_SHOWN = 100

Composer = Callable[[dict[str, Any]], Message | None]
_composers: dict[str, Composer] = {}


def composer(name: str) -> Callable[[Composer], Composer]:
    """Register how an e-mail of this type is written. Returning None means: nothing to send any more."""
    def register(fn: Composer) -> Composer:
        _composers[name] = fn
        return fn
    return register


def queue(name: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> OutboxMessage | None:
    """Queue an e-mail in the current transaction (at most once per dedupe key)."""
    return outbox.enqueue(KIND, {"type": name, **payload}, dedupe_key=dedupe_key)


def mail_dir() -> Path:
    path = Path(current_app.instance_path) / MAIL_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


@outbox.handler(KIND)
def deliver(payload: dict[str, Any], msg: outbox.Delivery) -> None:
    message = _composers[payload["type"]](payload)
    # Composed from the database: that transaction ends before the SMTP server is reached.
    db.session.commit()
    if message is None:
        log.info("e-mail %s (%s) dropped: nothing to send any more", msg.id, payload["type"])
        return
    send(message, msg.id)


def send(message: Message, outbox_id: int) -> None:
    """Hand the message to the SMTP server (or to instance/mail/ without one)."""
    if current_app.config["MAIL_SUPPRESS_SEND"]:
        path = mail_dir() / f"{outbox_id}.eml"
        path.write_bytes(message.as_bytes())
        log.info("e-mail %s not sent (no MAIL_SERVER): written to %s, to %s, subject %r",
                 outbox_id, path, ", ".join(map(str, message.recipients)), message.subject)
        return
    with _Connection(current_app.extensions["mail"]) as connection:
        message.send(connection)


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection, with a timeout: a silent SMTP server must not hold a worker forever."""

    def configure_host(self) -> smtplib.SMTP:
        factory = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = factory(self.mail.server, self.mail.port, timeout=SMTP_TIMEOUT_SECONDS)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


# --- Messages kept in instance/mail/ (no SMTP server), read back for the sandbox mail page ----------

@dataclass(frozen=True)
class StoredMail:
    id: int
    to: str
    subject: str
    sent_at: datetime | None
    text: str
    attachments: list[tuple[str, str, int]]  # (file name, content type, size in bytes)


def _read_stored(path: Path) -> StoredMail:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("plain",))
    try:
        sent_at = parsedate_to_datetime(message["Date"]) if message["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    return StoredMail(id=int(path.stem), to=str(message["To"] or ""), subject=str(message["Subject"] or ""),
                      sent_at=sent_at, text=body.get_content() if body is not None else "",
                      attachments=[(part.get_filename() or "", part.get_content_type(),
                                    len(part.get_payload(decode=True) or b""))
                                   for part in message.iter_attachments()])


def _stored_paths() -> list[Path]:
    # Only <outbox id>.eml, as deliver() writes them: nothing else in the folder is ever read.
    return sorted((p for p in mail_dir().glob("*.eml") if p.stem.isdigit()), key=lambda p: int(p.stem),
                  reverse=True)


def stored_messages(limit: int = STORED_SHOWN) -> list[StoredMail]:
    """The newest e-mails written to instance/mail/, newest first."""
    return [_read_stored(path) for path in _stored_paths()[:limit]]


def stored_message(message_id: int) -> StoredMail | None:
    path = mail_dir() / f"{message_id}.eml"
    return _read_stored(path) if path.is_file() else None


def stored_attachment(message_id: int, index: int) -> tuple[str, str, bytes] | None:
    """(file name, content type, bytes) of the message's attachment number `index`, or None."""
    path = mail_dir() / f"{message_id}.eml"
    if not path.is_file():
        return None
    parts = list(email.message_from_bytes(path.read_bytes(), policy=policy.default).iter_attachments())
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    return part.get_filename() or f"attachment-{index + 1}", part.get_content_type(), part.get_payload(decode=True)
