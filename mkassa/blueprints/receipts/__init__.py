"""The payer's public receipt (issue #17 item 4): /r/<token>, no sign-in, never expires.

The cashier's success screen shows its QR and link (blueprints/pay). Any token that is not a
succeeded payment's answers the same plain 404 as a path that does not exist: no hint whether it
was malformed, unknown or not paid yet. Pages are `no-store` like every page (mkassa/__init__.py)
and the service worker never caches pages (static/sw.js).
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from ...security import make_public
from ...services import receipts, refunds
from ..common import public_url

bp = Blueprint("receipts", __name__)

make_public("receipts.show")


@bp.get("/r/<token>")
def show(token: str):
    payment = receipts.find(token)
    if payment is None:
        abort(404)
    return render_template("receipts/show.html", payment=payment, payer=receipts.payer(payment),
                           refunds=refunds.refunds_of(payment),
                           url=public_url("receipts.show", token=payment.receipt_token))
