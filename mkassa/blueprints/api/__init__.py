"""Partner REST API /api/v1 (#18): JSON only, an API key in `Authorization: Bearer`, no cookies, no CSRF.

Errors are problem+json (mkassa/problems.py); every POST honours Idempotency-Key, scoped to the key;
each key has its own rate limit (API_RATE_LIMIT). The OpenAPI document (openapi.py) describes exactly
these routes (tests/integration/test_api_openapi.py walks both).
"""
from __future__ import annotations

import hashlib

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, select

from ... import idempotency, problems
from ...extensions import csrf, db, limiter
from ...models import Payment, Point, User
from ...scope import select_for_key
from ...security import PUBLIC_BLUEPRINTS
from ...services import Conflict, Invalid, ServiceError, accept, keyset, reports
from ...services import partner_api as api
from ...services.qr import qr_svg_document, static_link
from ...services.queries import HISTORY_KEYS
from .openapi import spec

bp = Blueprint("api", __name__, url_prefix="/api")
# No session or sign-in page here: each request carries its key (checked in `_authenticate`).
PUBLIC_BLUEPRINTS.add("api")
csrf.exempt(bp)

# Endpoints anyone may read: the description of the API itself.
OPEN_ENDPOINTS = {"api.openapi", "api.docs"}
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 100
# Query parameters of GET /payments: the reports' filters (services/reports.parse_filter), the page.
LIST_PARAMETERS = {"period", "from", "to", "point", "cashier", "method", "status", "cursor", "limit"}


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _rate_key() -> str:
    # Per key, before the key is looked up (the limiter runs first): the token's digest, never the token.
    token = _bearer()
    return "apikey:" + hashlib.sha256(token.encode()).hexdigest()[:32] if token else "ip:" + (request.remote_addr or "")


limiter.limit(lambda: current_app.extensions["mkassa.settings"].api_rate_limit, key_func=_rate_key,
              exempt_when=lambda: request.endpoint in OPEN_ENDPOINTS)(bp)


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, detail: str, errors: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors


@bp.errorhandler(ApiProblem)
def _problem(exc: ApiProblem):
    return problems.problem(exc.status, exc.detail, exc.code, exc.errors)


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    if isinstance(exc, keyset.BadCursor):
        return problems.problem(exc.status, exc.message, "bad_cursor", {"cursor": exc.message})
    if isinstance(exc, Invalid):
        return problems.problem(422, _("Some of the input is not valid."), "validation_failed", exc.errors)
    return problems.problem(exc.status, exc.message)


@bp.before_request
def _authenticate():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    key = api.authenticate(_bearer())
    if key is None:
        return problems.problem(401, _("Send a valid API key: Authorization: Bearer mk_…"), "unauthorized",
                                headers={"WWW-Authenticate": 'Bearer realm="mkassa"'})
    g.api_key = key
    return idempotency.begin(f"apikey:{key.id}")


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiProblem(400, "invalid_json", _("The body must be a JSON object (Content-Type: application/json)."))
    return body


def _payment_or_404(public_id: str):
    payment = api.get_payment(g.api_key, public_id)
    if payment is None:
        raise ApiProblem(404, "not_found", _("No such payment for this key."))
    return payment


def _payment_response(payment, status: int = 200) -> Response:
    extra = api.extras([payment.id]).get(payment.id)
    response = jsonify(api.payment_json(payment, extra, g.settings))
    response.status_code = status
    return response


@bp.post("/v1/payments")
def create_payment():
    payment, _extra = api.create_payment(g.api_key, _json_body(), g.settings)
    response = _payment_response(payment, 201)
    response.headers["Location"] = url_for("api.get_payment", payment_id=payment.public_id)
    return response


@bp.get("/v1/payments/<payment_id>")
def get_payment(payment_id: str):
    return _payment_response(_payment_or_404(payment_id))


@bp.get("/v1/payments/<payment_id>/refunds")
def payment_refunds(payment_id: str):
    return jsonify(api.refunds_json(_payment_or_404(payment_id)))


@bp.get("/v1/payments/<payment_id>/qr.svg")
def payment_qr(payment_id: str):
    payment = _payment_or_404(payment_id)
    if payment.method != "qr" or payment.link_type != "dynamic":
        raise ApiProblem(404, "not_found", _("This payment has no QR code."))
    return Response(qr_svg_document(accept.payment_link(payment, g.settings)), mimetype="image/svg+xml")


@bp.post("/v1/payments/<payment_id>/cancel")
def cancel_payment(payment_id: str):
    payment = _payment_or_404(payment_id)
    try:
        accept.cancel(payment)
    except Conflict as exc:
        raise ApiProblem(409, "payment_not_pending", exc.message) from None
    db.session.flush()
    return _payment_response(payment)


@bp.get("/v1/payments")
def list_payments():
    key = g.api_key
    unknown = sorted(set(request.args) - LIST_PARAMETERS)
    if unknown:
        raise ApiProblem(400, "unknown_parameter", _("Unknown query parameter: %(name)s.", name=unknown[0]))
    try:
        limit = int(request.args.get("limit", LIST_DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise Invalid({"limit": _("Must be a whole number from 1 to %(max)d.", max=LIST_MAX_LIMIT)})
    points = list(db.session.scalars(select_for_key(Point, key)))
    cashiers = list(db.session.scalars(_cashiers(key)))
    args = dict(request.args)
    args.setdefault("status", reports.ALL_STATUSES)
    if ("from" in args or "to" in args) and "period" not in args:
        args["period"] = "custom"
    report = reports.parse_filter(args, points, cashiers)
    page = keyset.page(reports.apply(select_for_key(Payment, key), report), HISTORY_KEYS,
                       request.args.get("cursor") or None, limit, scalars=True)
    found = api.extras([p.id for p in page.rows])
    return jsonify({"object": "list", "data": [api.payment_json(p, found.get(p.id), g.settings) for p in page.rows],
                    "next_cursor": page.next_cursor})


def _cashiers(key) -> Select:
    """The people a key may filter by: its merchant's, or those working at its point."""
    stmt = select(User).where(User.merchant_id == key.merchant_id)
    if key.point_id is not None:
        stmt = stmt.where(User.point_id == key.point_id)
    return stmt


@bp.get("/v1/points")
def list_points():
    rows = db.session.scalars(select_for_key(Point, g.api_key).order_by(Point.name, Point.id))
    return jsonify({"object": "list", "data": [api.point_json(p) for p in rows], "next_cursor": None})


@bp.get("/v1/points/<point_id>/static-qr")
def point_static_qr(point_id: str):
    point = db.session.scalar(select_for_key(Point, g.api_key).where(Point.public_id == point_id,
                                                                     Point.archived_at.is_(None)))
    if point is None:
        raise ApiProblem(404, "not_found", _("No such point for this key."))
    return jsonify({"object": "static_qr", "point_id": point.public_id,
                    "elqr_link": static_link(point.merchant, point, g.settings)})


@bp.get("/v1/openapi.json")
def openapi():
    return jsonify(spec(g.settings))


@bp.get("/docs")
def docs():
    return render_template("api/docs.html")

