"""Progressive web app plumbing: the service worker, the web app manifest, the offline page and
the page of actions waiting to be sent (the offline queue, static/js/queue.js).

All are public: browsers fetch the worker and the manifest on their own, without the user's
session, and the worker stores /offline and /queue as anonymous pages (see static/sw.js); the
queue page draws the queue, which lives on the phone, from the worker.
"""
from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Callable

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from ... import assets
from ...config import DEFAULT_LOCALE

bp = Blueprint("pwa", __name__)

# Reachable without signing in (the app's deny-by-default guard reads this).
PUBLIC_ENDPOINTS = {"pwa.service_worker", "pwa.manifest", "pwa.offline", "pwa.queue"}
# Rendered pages the worker keeps (anonymous copies): shown when the network cannot be reached.
PRECACHED_PAGES = ("/offline", "/queue")

THEME_COLOR = "#00796b"
PRECACHE_PLACEHOLDER = "/*PRECACHE*/[]"
# Vendored files the shell needs on every page. Their paths carry the version; all of our own
# static files are precached as well (see _precache_entries).
SHELL_VENDOR_FILES = ("vendor/pico-2.1.1/pico.min.css", "vendor/htmx-4.0.1/htmx.min.js",
                      # draws the QR codes made offline (static/js/offline-qr.js): needed with no network
                      "vendor/qrcode-generator-2.0.4/qrcode.js")


def content_hash(*files: Path) -> str:
    """Revision of a precached URL: first 12 hex digits of the SHA-256 of its files' bytes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _precache_entries(static_folder: Path, static_url: str, root_path: Path,
                      url_name: Callable[[str], str]) -> list[dict[str, str]]:
    # Every file of our own under static/ (CSS, JS, icons), under the content-hashed URL the pages
    # use (mkassa/assets.py): the precache must hold the very URLs a page asks for. sw.js is served
    # at /sw.js. The revision (the same hash) tells Workbox a new deploy changed the file.
    own = sorted(p for p in static_folder.rglob("*")
                 if p.is_file() and not p.name.startswith(".")
                 and p.relative_to(static_folder).parts[0] not in ("vendor", "sw.js"))
    files = own + [static_folder / name for name in SHELL_VENDOR_FILES]
    entries = []
    for path in files:
        name = path.relative_to(static_folder).as_posix()
        entries.append({"url": f"{static_url}/{url_name(name)}", "revision": content_hash(path)})
    # /offline and /queue are rendered, so their revision covers what renders them: every template
    # (base.html and whatever it includes) and the compiled message catalogs.
    sources = sorted([*(root_path / "templates").rglob("*.html"), *(root_path / "translations").rglob("*.mo")])
    revision = content_hash(*sources)
    entries[:0] = [{"url": page, "revision": revision} for page in PRECACHED_PAGES]
    return entries


@cache
def _service_worker_source(static_folder: str, static_url: str, root_path: str,
                           url_name: Callable[[str], str]) -> str:
    """sw.js with its precache list filled in. Hashing reads every shell file, so it runs once
    per process (the files only change with a deploy, which restarts the process)."""
    source = (Path(static_folder) / "sw.js").read_text(encoding="utf-8")
    if PRECACHE_PLACEHOLDER not in source:
        raise RuntimeError("static/sw.js lost its PRECACHE placeholder")
    entries = _precache_entries(Path(static_folder), static_url, Path(root_path), url_name)
    return source.replace(PRECACHE_PLACEHOLDER, json.dumps(entries, separators=(",", ":")), 1)


@bp.get("/sw.js")
def service_worker():
    app = current_app
    # In debug, rebuild on every request so an edited CSS file reaches the browser at once.
    build = _service_worker_source.__wrapped__ if app.debug else _service_worker_source
    # Plain names in debug, like url_for there (mkassa/assets.py).
    url_name = (lambda name: name) if app.debug else assets.manifest().url_name
    body = build(app.static_folder, app.static_url_path, app.root_path, url_name)
    return Response(body, content_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache",  # browsers must see a new deploy's revisions
                             "Service-Worker-Allowed": "/"})


@bp.get("/manifest.webmanifest")
def manifest():
    def icon(name: str, size: int, purpose: str) -> dict[str, str]:
        return {"src": url_for("static", filename=f"icons/{name}"), "sizes": f"{size}x{size}",
                "type": "image/png", "purpose": purpose}

    data = {
        "id": "/",
        "name": "MKASSA",
        "short_name": "MKASSA",
        "description": _("Accept payments by QR code and card, and follow your takings."),
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOR,
        # Browsers fetch the manifest without cookies, so this follows Accept-Language.
        "lang": str(get_locale() or DEFAULT_LOCALE),
        "icons": [icon("icon-192.png", 192, "any"), icon("icon-512.png", 512, "any"),
                  icon("maskable-512.png", 512, "maskable")],
        "categories": ["finance", "business"],
    }
    return Response(json.dumps(data, ensure_ascii=False), content_type="application/manifest+json",
                    headers={"Cache-Control": "no-cache"})


@bp.get("/offline")
def offline():
    return render_template("pwa/offline.html")


@bp.get("/queue")
def queue():
    # Nothing of the user is rendered: the rows come from the worker, on the phone.
    return render_template("pwa/queue.html")
