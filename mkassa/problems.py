"""RFC 9457 problem details for the partner API (#18): one JSON shape for every error under /api/,
with a stable `code` partners' code can branch on and a `detail` in the Accept-Language's language."""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, json, request

API_PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"
# HTTP status → the code a problem of that status has unless the raiser named a finer one.
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_failed", 429: "rate_limited", 500: "internal_error",
}


def wanted() -> bool:
    """Whether this request is the API's (its errors are problems, never HTML pages)."""
    return request.path.startswith(API_PREFIX)


def problem(status: int, detail: str | None = None, code: str | None = None,
            errors: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Response:
    from .errors import MESSAGES
    title, message = MESSAGES.get(status, MESSAGES[500])
    body: dict[str, Any] = {"type": f"urn:mkassa:problem:{code or CODES.get(status, 'error')}",
                            "title": str(title), "status": status, "detail": str(detail or message),
                            "code": code or CODES.get(status, "error")}
    if errors:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                          mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
