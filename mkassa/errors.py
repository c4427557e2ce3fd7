"""Error pages: translated, never a stack trace, never a secret; a fragment for htmx requests."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from . import problems
from .htmx import wants_fragment
from .services.keyset import BadCursor

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Please check what you entered.")),
    401: (_l("Please sign in"), _l("Your session has ended. Please sign in again.")),
    403: (_l("Access denied"), _l("You do not have access to this page.")),
    404: (_l("Not found"), _l("This page does not exist or is not available to you.")),
    405: (_l("Not allowed"), _l("This action is not allowed here.")),
    409: (_l("Already in progress"), _l("This request was already sent.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
    422: (_l("Check the input"), _l("Some of the input is not valid.")),
    429: (_l("Too many attempts"), _l("Too many attempts. Please wait a little and try again.")),
    500: (_l("Something went wrong"), _l("Something went wrong on our side. Nothing was changed; please try again.")),
}


def render_error(code: int, detail: str | None = None):
    title, message = MESSAGES.get(code, MESSAGES[500])
    template = "errors/_error.html" if wants_fragment() else "errors/error.html"
    return render_template(template, code=code, title=title, message=detail or message), code


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error):
        if problems.wanted():  # the API is exempt from CSRF; kept for a path that is not
            return problems.problem(400)
        return render_error(400, str(_l("The form has expired. Please reload the page and try again.")))

    @app.errorhandler(BadCursor)
    def _bad_cursor(error: BadCursor):
        # A page link we did not write (edited, cut short): the same 400 and message on every list.
        if problems.wanted():
            return problems.problem(error.status, error.message, code="bad_cursor", errors={"cursor": error.message})
        return render_error(error.status, error.message)

    @app.errorhandler(SecurityError)
    def _untrusted_host(error):
        # A Host header not in TRUSTED_HOSTS: no page of ours can be built for that name (no links).
        return app.response_class("Bad request", status=400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        response = error.get_response()
        detail = error.description if error.description and error.description != type(error).description else None
        if error.code == 429:
            detail = None  # the limiter's description is its rule in English ("30 per 1 hour"), not a message
        if problems.wanted():
            # The limiter's Retry-After and the router's Allow stay on the problem.
            headers = {h: response.headers[h] for h in ("Retry-After", "Allow", "WWW-Authenticate")
                       if h in response.headers}
            return problems.problem(error.code or 500, detail, code=getattr(error, "problem_code", None),
                                    headers=headers)
        body, code = render_error(error.code or 500, detail)
        response.set_data(body)
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(InternalServerError)
    def _server(error):
        # Logged with its traceback for operators; the user sees only a calm message.
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=error.original_exception)
        if problems.wanted():
            return problems.problem(500)
        return render_error(500)
