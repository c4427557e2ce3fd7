"""Passkeys (D1): WebAuthn registration and sign-in with py_webauthn, user verification required.

Challenges live in `webauthn_challenge`, bound to the user and the ceremony, used at most once
(even a failed attempt uses its challenge up) and only for CHALLENGE_SECONDS. The challenge comes
back inside the signed clientDataJSON, which is how the row is found. A passkey signs in only
the user it was registered to: the lookup is by credential id AND user.
"""
from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from .. import durable
from ..extensions import db
from ..models import Device, Passkey, User, WebAuthnChallenge, utcnow
from . import ServiceError
from .auth import notify

CHALLENGE_SECONDS = 5 * 60
# 32 random bytes: 43 characters in base64url, within the challenge column (py_webauthn's default
# of 64 bytes would not fit, and PostgreSQL enforces the length).
CHALLENGE_BYTES = 32
RP_NAME = "MKASSA"
NAME_MAX = 300
PASSKEY_ADDED_NOTICE = _l("MKASSA: a passkey was added to your account. If it was not you, call the Bank.")


class PasskeyError(ServiceError):
    status = 400


# py_webauthn (with cbor2, pyasn1 and its parsers, about 20 MB of memory) is imported by the
# ceremonies that use it, not with the app: a web or export process that never sees a passkey
# never loads it.
def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _descriptors(user: User) -> list:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor
    return [PublicKeyCredentialDescriptor(id=_b64url_bytes(p.credential_id)) for p in active_for(user)]


def _store_challenge(user: User, ceremony: str, challenge: bytes, now: datetime) -> None:
    db.session.add(WebAuthnChallenge(challenge=_b64url(challenge), ceremony=ceremony, user_id=user.id,
                                     created_at=now, expires_at=now + timedelta(seconds=CHALLENGE_SECONDS)))
    db.session.flush()


def _take_challenge(user: User, ceremony: str, client_data_json: bytes, now: datetime) -> bytes:
    """Use up the challenge the browser signed; refuse one that is foreign, stale or used."""
    from webauthn.helpers import parse_client_data_json
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except Exception:  # py_webauthn raises assorted errors on malformed JSON
        raise PasskeyError(_l("The passkey answer was not valid. Please try again.")) from None
    if _spend(user.id, ceremony, challenge, now) != 1:
        raise PasskeyError(_l("This passkey request has expired. Please try again."))
    return challenge


def _spend(user_id: int, ceremony: str, challenge: bytes, now: datetime) -> int:
    return db.session.execute(update(WebAuthnChallenge).where(
        WebAuthnChallenge.challenge == _b64url(challenge), WebAuthnChallenge.ceremony == ceremony,
        WebAuthnChallenge.user_id == user_id, WebAuthnChallenge.used_at.is_(None),
        WebAuthnChallenge.expires_at > now).values(used_at=now)).rowcount


def _spend_again(user_id: int, ceremony: str, client_data_json: bytes | None, now: datetime) -> None:
    """After a failed ceremony whose caller's work was rolled back: the challenge stays used (if the
    browser's answer named one of ours), alone in a fresh transaction."""
    from webauthn.helpers import parse_client_data_json
    try:
        challenge = parse_client_data_json(client_data_json).challenge if client_data_json else None
    except Exception:  # malformed: it named no challenge, so none was used
        return
    if challenge is not None:
        _spend(user_id, ceremony, challenge, now)


def registration_options(user: User, rp_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, ResidentKeyRequirement,
                                          UserVerificationRequirement)
    options = generate_registration_options(
        rp_id=rp_id, rp_name=RP_NAME, user_name=user.login, user_id=user.public_id.encode(),
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        user_display_name=user.name, timeout=CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=_descriptors(user))
    _store_challenge(user, "register", options.challenge, now or utcnow())
    return json.loads(options_to_json(options))


def register(user: User, credential: dict[str, Any] | str, rp_id: str, origin: str, name: str | None = None,
             *, device: Device | None = None, now: datetime | None = None) -> Passkey:
    """A new passkey of `user`; `device`: the quick-access device it is added on (forgetting that
    device on sign-out revokes the passkey with it)."""
    from webauthn import verify_registration_response
    from webauthn.helpers import parse_registration_credential_json
    from webauthn.helpers.exceptions import WebAuthnException
    now = now or utcnow()
    mark, client_data = durable.mark(), None
    try:
        parsed = parse_registration_credential_json(credential)
        client_data = parsed.response.client_data_json
        challenge = _take_challenge(user, "register", client_data, now)
        verified = verify_registration_response(credential=parsed, expected_challenge=challenge,
                                                expected_rp_id=rp_id, expected_origin=origin,
                                                require_user_verification=True)
    except (WebAuthnException, PasskeyError) as exc:
        # The challenge stays used although the request fails.
        user_id = user.id
        durable.keep(mark, redo=lambda: _spend_again(user_id, "register", client_data, now))
        raise PasskeyError(_l("The passkey could not be added. Please try again.")) from exc
    passkey = Passkey(user_id=user.id, credential_id=_b64url(verified.credential_id),
                      public_key=verified.credential_public_key, sign_count=verified.sign_count,
                      name=(name or "")[:NAME_MAX], created_at=now,
                      device_id=device.id if device is not None and device.user_id == user.id else None)
    db.session.add(passkey)
    notify(user, PASSKEY_ADDED_NOTICE)
    db.session.flush()
    return passkey


def authentication_options(user: User, rp_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement
    options = generate_authentication_options(rp_id=rp_id, timeout=CHALLENGE_SECONDS * 1000,
                                              challenge=secrets.token_bytes(CHALLENGE_BYTES),
                                              allow_credentials=_descriptors(user),
                                              user_verification=UserVerificationRequirement.REQUIRED)
    _store_challenge(user, "login", options.challenge, now or utcnow())
    return json.loads(options_to_json(options))


def authenticate(user: User, credential: dict[str, Any] | str, rp_id: str, origin: str,
                 *, now: datetime | None = None) -> Passkey:
    """The user's passkey that signed this challenge; PasskeyError otherwise (nothing says why)."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import parse_authentication_credential_json
    from webauthn.helpers.exceptions import WebAuthnException
    now = now or utcnow()
    mark, client_data = durable.mark(), None
    try:
        parsed = parse_authentication_credential_json(credential)
        client_data = parsed.response.client_data_json
        challenge = _take_challenge(user, "login", client_data, now)
        passkey = db.session.scalar(select(Passkey).where(
            Passkey.credential_id == _b64url(parsed.raw_id), Passkey.user_id == user.id,
            Passkey.revoked_at.is_(None)))
        if passkey is None:
            raise PasskeyError(_l("This passkey is not registered for this account."))
        # py_webauthn refuses a sign count that did not grow (a cloned authenticator).
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=passkey.public_key, credential_current_sign_count=passkey.sign_count,
            require_user_verification=True)
    except (WebAuthnException, PasskeyError) as exc:
        # The challenge stays used although the request fails.
        user_id = user.id
        durable.keep(mark, redo=lambda: _spend_again(user_id, "login", client_data, now))
        raise PasskeyError(_l("The passkey did not work. Use your PIN or password.")) from exc
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = now
    return passkey


def active_for(user: User) -> list[Passkey]:
    return list(db.session.scalars(select(Passkey).where(Passkey.user_id == user.id, Passkey.revoked_at.is_(None))
                                   .order_by(Passkey.created_at.desc())))


def get_own(user: User, public_id: str) -> Passkey | None:
    return db.session.scalar(select(Passkey).where(Passkey.public_id == public_id, Passkey.user_id == user.id))


def revoke(passkey: Passkey, *, now: datetime | None = None) -> None:
    if passkey.revoked_at is None:
        passkey.revoked_at = now or utcnow()
