"""Small helpers shared by views: safe redirects, public links, file downloads, this browser's device,
form pages with errors."""
from __future__ import annotations

import re
import tempfile
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template, request, send_file, url_for
from flask_login import current_user

from ..security import is_page_path
from ..services import devices, export

# Percent-decoding rounds looked through: `%255C` is `%5C` is `\`; more layers than this is no path of ours.
NEXT_DECODE_ROUNDS = 3
NEXT_MAX_LENGTH = 2048


def _same_origin_path(text: str) -> bool:
    """True when `text` can only mean a path on this site, however a browser reads it.

    Browsers turn `\\` into `/`, drop tabs and newlines anywhere in a URL and strip leading
    control characters and spaces, so `/\\evil.example`, `/\\t/evil.example` and `%5C`-encoded
    forms all lead off-site. Anything with such characters is refused outright: no path of ours
    needs them.
    """
    if not text.startswith("/") or text.startswith("//"):
        return False
    if "\\" in text or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return False
    parts = urlsplit(text)
    return not (parts.scheme or parts.netloc)


def safe_next(target: str | None, default: str | None = None) -> str | None:
    """`target` if it is a page on this site, else `default`: never an open redirect to another host,
    never a stream or JSON endpoint (a browser landing there shows raw data).

    The path part is checked as written and after each round of percent-decoding, so an encoded
    backslash, slash or control character cannot hide until some later step decodes it (the query
    may carry encoded spaces: it cannot change where the browser goes).
    """
    if not target or len(target) > NEXT_MAX_LENGTH or not _same_origin_path(target):
        return default
    path = re.split(r"[?#]", target, maxsplit=1)[0]
    for _round in range(NEXT_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            return target if is_page_path(target) else default
        if not _same_origin_path(decoded):
            return default
        path = decoded
    return default


def public_url(endpoint: str, **values) -> str:
    """An absolute link for e-mails and SMS, on the configured PUBLIC_BASE_URL: the request's Host
    header is whatever the client wrote, and must never decide where a mailed link points."""
    base = current_app.extensions["mkassa.settings"].public_base_url.rstrip("/")
    return base + url_for(endpoint, **values)


def send_xlsx(write, name: str):
    """Write into a temporary file (write-only mode streams to disk) and send it."""
    out = tempfile.TemporaryFile()
    write(out)
    out.seek(0)
    return send_file(out, mimetype=export.XLSX_MIMETYPE, as_attachment=True, download_name=name)


def own_device():
    """This browser's quick-access device when it belongs to the signed-in user, else None."""
    device = devices.load(request.cookies.get(devices.DEVICE_COOKIE))
    if device is None or not current_user.is_authenticated or device.user_id != current_user.id:
        return None
    return device


def form_page(template: str, errors: dict[str, str], status: int = 422, **context):
    """A form's page: 200 when `errors` is empty, else `status` (422 unless the rule said otherwise,
    e.g. a Conflict's 409) with each message beside its field and what was typed kept in `context`.
    Errors come from `ServiceError.form_errors(field)`, one path for `Invalid` and every other refusal."""
    return render_template(template, errors=errors, **context), (status if errors else 200)
