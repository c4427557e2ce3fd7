"""The OpenAPI 3.1 description of /api/v1, written by hand to match the views in this package.

tests/integration/test_api_openapi.py checks that every route of the blueprint is described and
every described path exists, and runs schemathesis against a live server with this document: every
answer must match it and none may be a 5xx.
"""
from __future__ import annotations

import copy
from typing import Any

from ...config import Settings
from ...models.api import CALLBACK_URL_MAX, DESCRIPTION_MAX, ORDER_REF_MAX
from ...models.payment import METHODS, STATUSES
from ...models.refund import RefundStatus
from ...services.reports import ALL_STATUSES, PERIODS

VERSION = "1.0.0"
ID = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_TEXT = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


COMMON_ERRORS = {
    "400": _problem("The request could not be read (bad JSON, unknown parameter, bad cursor, Idempotency-Key too long)."),
    "401": _problem("No API key, or an unknown or revoked one (`code`: unauthorized)."),
    "429": _problem("Too many requests for this key (`code`: rate_limited); see Retry-After."),
}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "Same key and same body: the stored answer (header Idempotent-Replayed: true). "
                              "Same key, another body: 409 idempotency_key_reused. Kept 24 hours.",
               "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
ACCEPT_LANGUAGE = {"name": "Accept-Language", "in": "header", "required": False,
                   "description": "Language of the error messages: ru (default), ky or en.",
                   "schema": {"type": "string"}}


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": ID}


PAYMENT_ID = _path_id("payment_id", "The payment's id (as returned when it was created).")
POINT_ID = _path_id("point_id", "The point's id (GET /api/v1/points).")

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "MKASSA partner API",
        "version": VERSION,
        "description": (
            "Create QR payments from your own site, till or 1C, read and cancel them, list payments with the "
            "filters of the reports, and receive signed callbacks.\n\n"
            "**Keys.** Create a key in MKASSA → Profile → API keys. Send it as `Authorization: Bearer mk_live_…` "
            "(sandbox: `mk_test_…`). A key scoped to one point sees and creates that point's payments only.\n\n"
            "**Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `code`; "
            "`detail` and `errors` follow `Accept-Language` (ru, ky, en).\n\n"
            "**Callbacks.** A payment created with `callback_url` is POSTed to it on every status change "
            "(`payment.succeeded`, `payment.failed`, `payment.expired`, `payment.cancelled`), signed per "
            "Standard Webhooks (headers webhook-id, webhook-timestamp, webhook-signature) with the key's "
            "`whsec_` secret, retried with exponential back-off until your server answers 2xx. The body: "
            "`{\"type\": …, \"timestamp\": …, \"data\": Payment}`. Callback URLs must be https and public.\n\n"
            "Amounts are integers in tyiyn (1 som = 100 tyiyn)."),
    },
    "servers": [{"url": "/"}],
    "security": [{"apiKey": []}],
    "paths": {
        "/api/v1/payments": {
            "post": {
                "operationId": "createPayment",
                "summary": "Create a dynamic QR payment",
                "parameters": [IDEMPOTENCY, ACCEPT_LANGUAGE],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PaymentCreate"}}}},
                "responses": {
                    "201": _json("The payment, pending until the payer pays or it expires.",
                                 "#/components/schemas/Payment"),
                    **COMMON_ERRORS,
                    "409": _problem("The Idempotency-Key was used with another body, or its first request is "
                                    "still running."),
                    "422": _problem("Invalid input (`code`: validation_failed, `errors` per field)."),
                },
            },
            "get": {
                "operationId": "listPayments",
                "summary": "List payments, newest first, with the reports' filters",
                "parameters": [
                    {"name": "period", "in": "query", "schema": {"type": "string", "enum": list(PERIODS)},
                     "description": "Period (Bishkek days); `custom` with from/to. Default: today, or custom "
                                    "when from/to are given."},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "point", "in": "query", "schema": ID, "description": "A point's id."},
                    {"name": "cashier", "in": "query", "schema": ID, "description": "A cashier's id."},
                    {"name": "method", "in": "query", "schema": {"type": "string", "enum": list(METHODS)}},
                    {"name": "status", "in": "query",
                     "schema": {"type": "string", "enum": [*STATUSES, ALL_STATUSES]},
                     "description": "Default: all."},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"},
                     "description": "`next_cursor` of the previous page."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                                "default": 50}},
                    ACCEPT_LANGUAGE,
                ],
                "responses": {
                    "200": _json("One page of payments.", "#/components/schemas/PaymentList"),
                    **COMMON_ERRORS,
                    "422": _problem("A filter is not valid (`errors` per parameter)."),
                },
            },
        },
        "/api/v1/payments/{payment_id}": {
            "get": {
                "operationId": "getPayment",
                "summary": "Get one payment",
                "parameters": [PAYMENT_ID, ACCEPT_LANGUAGE],
                "responses": {
                    "200": _json("The payment.", "#/components/schemas/Payment"),
                    **COMMON_ERRORS,
                    "404": _problem("No such payment for this key."),
                },
            },
        },
        "/api/v1/payments/{payment_id}/refunds": {
            "get": {
                "operationId": "listPaymentRefunds",
                "summary": "The payment's refunds",
                "description": "Refunds are made by the merchant in MKASSA and confirmed by SMS code; the API "
                               "only reads them. Each refund is listed once the code confirmed it.",
                "parameters": [PAYMENT_ID, ACCEPT_LANGUAGE],
                "responses": {
                    "200": _json("The refunds, oldest first.", "#/components/schemas/RefundList"),
                    **COMMON_ERRORS,
                    "404": _problem("No such payment for this key."),
                },
            },
        },
        "/api/v1/payments/{payment_id}/qr.svg": {
            "get": {
                "operationId": "getPaymentQr",
                "summary": "The payment's QR code as an SVG picture",
                "parameters": [PAYMENT_ID],
                "responses": {
                    "200": {"description": "The QR code of `elqr_link`.",
                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                    **COMMON_ERRORS,
                    "404": _problem("No such payment for this key, or it has no QR."),
                },
            },
        },
        "/api/v1/payments/{payment_id}/cancel": {
            "post": {
                "operationId": "cancelPayment",
                "summary": "Cancel a pending payment",
                "description": "Money that still arrives for a cancelled payment is credited and the "
                               "payment becomes succeeded with `flagged: true`.",
                "parameters": [PAYMENT_ID, IDEMPOTENCY, ACCEPT_LANGUAGE],
                "responses": {
                    "200": _json("The cancelled payment.", "#/components/schemas/Payment"),
                    **COMMON_ERRORS,
                    "404": _problem("No such payment for this key."),
                    "409": _problem("The payment is no longer pending (`code`: payment_not_pending), or an "
                                    "Idempotency-Key conflict."),
                },
            },
        },
        "/api/v1/points": {
            "get": {
                "operationId": "listPoints",
                "summary": "List the points of sale the key may use",
                "parameters": [ACCEPT_LANGUAGE],
                "responses": {
                    "200": _json("The points.", "#/components/schemas/PointList"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/points/{point_id}/static-qr": {
            "get": {
                "operationId": "getPointStaticQr",
                "summary": "A point's static QR link (the payer types the amount)",
                "parameters": [POINT_ID, ACCEPT_LANGUAGE],
                "responses": {
                    "200": _json("The link.", "#/components/schemas/StaticQr"),
                    **COMMON_ERRORS,
                    "404": _problem("No such point for this key, or it is archived."),
                },
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            },
        },
    },
    "webhooks": {
        "paymentEvent": {
            "post": {
                "operationId": "paymentEvent",
                "summary": "A payment created with callback_url changed status (sent to that URL)",
                "description": "Signed per Standard Webhooks with the key's whsec_ secret: verify webhook-signature "
                               "over `webhook-id.webhook-timestamp.body` before trusting it. Retried with back-off "
                               "until a 2xx; the same event keeps its webhook-id and body on every retry.",
                "parameters": [
                    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CallbackEvent"}}}},
                "responses": {"2XX": {"description": "Received; any other answer is retried."}},
            },
        },
    },
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                       "description": "mk_live_… (production) or mk_test_… (sandbox)"}},
        "schemas": {
            "PaymentCreate": {
                "type": "object",
                "required": ["amount"],
                "properties": {
                    "amount": {"type": "integer", "minimum": 1, "description": "Tyiyn (99,00 som = 9900)."},
                    "point_id": {"type": "string",
                                 "description": "Required unless the key is a point's, or the merchant has one point."},
                    "order_ref": {"type": ["string", "null"], "maxLength": ORDER_REF_MAX},
                    "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX},
                    "callback_url": {"type": ["string", "null"], "maxLength": CALLBACK_URL_MAX,
                                     "description": "https URL on the public internet."},
                },
            },
            "Payment": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "object", "status", "amount", "currency", "method", "point_id", "cashier_id",
                             "order_ref", "description", "callback_url", "elqr_link", "qr_svg_url", "flagged",
                             "created_at", "expires_at", "paid_at", "finished_at"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "payment"},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "amount": {"type": "integer", "minimum": 1},
                    "currency": {"const": "KGS"},
                    "method": {"type": "string", "enum": list(METHODS)},
                    "point_id": NULLABLE_TEXT,
                    "cashier_id": NULLABLE_TEXT,
                    "order_ref": NULLABLE_TEXT,
                    "description": NULLABLE_TEXT,
                    "callback_url": NULLABLE_TEXT,
                    "elqr_link": {"type": ["string", "null"], "description": "The ELQR link the QR encodes."},
                    "qr_svg_url": {"type": ["string", "null"]},
                    "flagged": {"type": "boolean",
                                "description": "Paid after it was cancelled, expired or failed."},
                    "created_at": TIME,
                    "expires_at": NULLABLE_TIME,
                    "paid_at": NULLABLE_TIME,
                    "finished_at": NULLABLE_TIME,
                },
            },
            "Refund": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "object", "payment_id", "amount", "currency", "status", "created_at",
                             "finished_at", "failure_reason"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "refund"},
                    "payment_id": {"type": "string"},
                    "amount": {"type": "integer", "minimum": 1},
                    "currency": {"const": "KGS"},
                    "status": {"type": "string", "enum": [s.value for s in RefundStatus
                                                          if s is not RefundStatus.REQUESTED]},
                    "created_at": TIME,
                    "finished_at": NULLABLE_TIME,
                    "failure_reason": NULLABLE_TEXT,
                },
            },
            "RefundList": {
                "type": "object",
                "additionalProperties": False,
                "required": ["object", "data"],
                "properties": {"object": {"const": "list"},
                               "data": {"type": "array", "items": {"$ref": "#/components/schemas/Refund"}}},
            },
            "PaymentList": {
                "type": "object",
                "additionalProperties": False,
                "required": ["object", "data", "next_cursor"],
                "properties": {"object": {"const": "list"},
                               "data": {"type": "array", "items": {"$ref": "#/components/schemas/Payment"}},
                               "next_cursor": NULLABLE_TEXT},
            },
            "Point": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "object", "name", "address", "archived"],
                "properties": {"id": {"type": "string"}, "object": {"const": "point"}, "name": {"type": "string"},
                               "address": {"type": "string"}, "archived": {"type": "boolean"}},
            },
            "PointList": {
                "type": "object",
                "additionalProperties": False,
                "required": ["object", "data", "next_cursor"],
                "properties": {"object": {"const": "list"},
                               "data": {"type": "array", "items": {"$ref": "#/components/schemas/Point"}},
                               "next_cursor": {"type": "null"}},
            },
            "StaticQr": {
                "type": "object",
                "additionalProperties": False,
                "required": ["object", "point_id", "elqr_link"],
                "properties": {"object": {"const": "static_qr"}, "point_id": {"type": "string"},
                               "elqr_link": {"type": "string"}},
            },
            "CallbackEvent": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"type": "string", "enum": [f"payment.{status}" for status in STATUSES
                                                        if status != "pending"]},
                    "timestamp": TIME,
                    "data": {"$ref": "#/components/schemas/Payment"},
                },
            },
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail", "code"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string", "description": (
                        "Stable: bad_request, invalid_json, unknown_parameter, bad_cursor, unauthorized, "
                        "forbidden, not_found, method_not_allowed, conflict, payment_not_pending, "
                        "idempotency_key_reused, idempotency_in_progress, payload_too_large, validation_failed, "
                        "rate_limited, internal_error.")},
                    "errors": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "Field → message, for validation_failed."},
                },
            },
        },
    },
}


def spec(settings: Settings) -> dict[str, Any]:
    """The document, with the deployment's own address as its server."""
    document = copy.deepcopy(DOCUMENT)
    if settings.public_base_url:
        document["servers"] = [{"url": settings.public_base_url.rstrip("/")}]
    return document
