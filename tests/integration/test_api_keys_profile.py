"""The owner's API keys screen (#18): create (shown once), scope, revoke, callbacks with attempts."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import ApiKey, IdempotencyKey


def _secret(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}"[^>]*>([^<]+)</textarea>', html).group(1)


def test_owner_creates_a_key_sees_it_once_and_revokes_it(client, auth, demo):
    auth.login("demo")
    token = auth.csrf("/profile/api-keys")
    created = client.post("/profile/api-keys", data={"csrf_token": token, "name": "Site",
                                                      "point": demo.points[0].public_id},
                          headers={"Idempotency-Key": "create-1"})
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    key, secret = _secret(html, "api-key-secret"), _secret(html, "api-callback-secret")
    assert key.startswith("mk_test_") and secret.startswith("whsec_")
    # Never again: not on the list, not in a replay of the same form, not in the stored replay.
    listed = client.get("/profile/api-keys").get_data(as_text=True)
    assert key not in listed and secret not in listed and key[:12] in listed
    replay = client.post("/profile/api-keys", data={"csrf_token": token, "name": "Site",
                                                     "point": demo.points[0].public_id},
                         headers={"Idempotency-Key": "create-1"})
    assert replay.status_code == 303 and key not in replay.get_data(as_text=True)
    stored = b"".join(db.session.scalars(select(IdempotencyKey.response_body)))
    assert key.encode() not in stored and secret.encode() not in stored
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1
    row = db.session.scalar(select(ApiKey))
    assert row.point_id == demo.points[0].id
    assert client.get("/api/v1/points", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    revoked = client.post(f"/profile/api-keys/{row.public_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert client.get("/api/v1/points", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_a_key_needs_a_name_and_a_cashier_has_no_keys_screen(client, auth, demo):
    auth.login("demo")
    refused = client.post("/profile/api-keys", data={"csrf_token": auth.csrf("/profile/api-keys"), "name": " "})
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 0
    auth.logout()
    auth.login("cashier")
    assert client.get("/profile/api-keys").status_code == 403


def test_the_number_of_live_keys_is_limited(app, demo):
    from mkassa.services import Invalid, partner_api
    settings = app.extensions["mkassa.settings"]
    for i in range(partner_api.MAX_KEYS_PER_MERCHANT):
        partner_api.create_key(demo.owner, f"k{i}", None, settings)
    try:
        partner_api.create_key(demo.owner, "one too many", None, settings)
    except Invalid as exc:
        assert "name" in exc.errors
    else:
        raise AssertionError("the limit let one more key through")
    partner_api.revoke_key(demo.owner, db.session.scalar(select(ApiKey).limit(1)))
    partner_api.create_key(demo.owner, "after a revocation", None, settings)
