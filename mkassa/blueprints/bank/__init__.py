"""The Bank's notifications (bank-interface.md §1): `POST /bank/webhooks`, public, signed, no CSRF."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ...extensions import csrf
from ...services import webhooks

bp = Blueprint("bank", __name__, url_prefix="/bank")
# The Bank signs every request (Standard Webhooks); it has no browser session to forge.
csrf.exempt(bp)


@bp.post("/webhooks")
def receive():
    body = request.get_data()
    try:
        webhook_id = webhooks.verify(current_app.extensions["mkassa.settings"], body, request.headers)
    except webhooks.SignatureRejected:
        return jsonify(error="signature"), 401
    outcome = webhooks.ingest(webhook_id, body)  # a refused event is kept although the answer is 422
    return jsonify(outcome=outcome.outcome), outcome.status
