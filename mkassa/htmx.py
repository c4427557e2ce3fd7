"""What an htmx request asks for: the one place that reads htmx's request headers.

A module of its own, not `blueprints/common.py`: `security.py` and `errors.py` decide with it too, and
they sit below the blueprints (`common.py` imports `security`).
"""
from __future__ import annotations

from flask import request

# Request headers a page-or-fragment answer depends on: shared caches must keep the answers apart.
VARY = ("HX-Request", "HX-Request-Type", "HX-History-Restore-Request")


def is_htmx() -> bool:
    """Sent by htmx (or by our own scripts in its name, see static/js/quick-lock.js), not a browser
    navigation: a request of this kind that lost its session must move the whole page (HX-Redirect)."""
    return bool(request.headers.get("HX-Request"))


def wants_fragment() -> bool:
    """An htmx request that swaps part of a page. Back/forward (`HX-History-Restore-Request`) and
    requests targeting `<body>` (`HX-Request-Type: full`) replace the whole body: they get the page
    (docs/htmx4-notes.md, "History")."""
    return (is_htmx() and request.headers.get("HX-Request-Type") != "full"
            and not request.headers.get("HX-History-Restore-Request"))
