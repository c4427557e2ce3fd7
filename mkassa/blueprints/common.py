"""Small helpers shared by views: safe redirects and list positions from the URL."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import abort, request
from flask_babel import gettext as _

from ..security import is_page_path
from ..services.queries import decode_cursor


def safe_next(target: str | None, default: str | None = None) -> str | None:
    """`target` if it is a page on this site, else `default`: never an open redirect to another host,
    never a stream or JSON endpoint (a browser landing there shows raw data)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target if is_page_path(target) else default


def cursor_arg(name: str = "before") -> tuple[datetime, int] | None:
    """The keyset position a list page was asked for; 400 with a message for anything we did not write."""
    try:
        return decode_cursor(request.args.get(name))
    except ValueError:
        abort(400, description=_("This page link is broken. Start again from the first page."))
