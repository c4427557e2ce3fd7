"""The PWA plumbing: manifest, icons, service worker and its precache, offline page.

A precache entry that does not answer 200 makes the browser reject the whole service worker,
and a stale revision keeps old CSS on phones; both are checked here against the real files.
"""
from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import pytest

from mkassa.blueprints import pwa
from mkassa.security import is_public

TEAL = bytes.fromhex("00796b")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always comes first in a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_rgb_rows(data: bytes) -> list[bytes]:
    """Pixel rows of the 8-bit RGB, unfiltered PNGs that scripts/make_icons.py writes."""
    width, height = png_size(data)
    assert data[24:26] == b"\x08\x02", "expected 8-bit RGB; regenerate with scripts/make_icons.py"
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw, stride = zlib.decompress(idat), 1 + 3 * width
    rows = [raw[y * stride:(y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows), "expected filter type 0; regenerate with scripts/make_icons.py"
    return [row[1:] for row in rows]


def get(client, url: str, **kwargs):
    """GET with the body buffered and the response closed (static files are open file handles)."""
    with client.get(url, **kwargs) as response:
        response.get_data()
    return response


def precache_entries(client) -> list[dict[str, str]]:
    source = get(client, "/sw.js").get_data(as_text=True)
    match = re.search(r"^const PRECACHE = (\[.*\]);$", source, re.M)
    assert match, "sw.js has no filled-in PRECACHE line"
    return json.loads(match.group(1))


def test_pwa_endpoints_are_public(app):
    assert pwa.PUBLIC_ENDPOINTS <= set(app.view_functions)
    assert all(is_public(endpoint) for endpoint in pwa.PUBLIC_ENDPOINTS)


def test_manifest_is_installable(client):
    response = get(client, "/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    assert manifest["name"] == manifest["short_name"] == "MKASSA"
    assert manifest["description"]
    assert manifest["start_url"] == "/?source=pwa"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#00796b"
    assert manifest["background_color"]
    assert manifest["lang"] in ("ru", "ky", "en")
    assert manifest["categories"] == ["finance", "business"]
    assert {(i["sizes"], i["purpose"]) for i in manifest["icons"]} == {
        ("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}


def test_manifest_language_follows_the_request(client):
    response = get(client, "/manifest.webmanifest", headers={"Accept-Language": "ky"})
    assert json.loads(response.data)["lang"] == "ky"


def test_manifest_icons_exist_with_their_declared_size(client):
    for icon in json.loads(get(client, "/manifest.webmanifest").data)["icons"]:
        response = get(client, icon["src"])
        assert response.status_code == 200, icon["src"]
        assert response.mimetype == "image/png"
        size = int(icon["sizes"].split("x")[0])
        assert png_size(response.data) == (size, size), icon["src"]


@pytest.mark.parametrize("url, size", [("/static/icons/apple-touch-icon.png", 180),
                                       ("/static/icons/icon-192.png", 192)])
def test_page_icons_exist(client, url, size):
    response = get(client, url)
    assert response.status_code == 200
    assert png_size(response.data) == (size, size)


def test_favicon_is_svg(client):
    response = get(client, "/static/icons/favicon.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert b"#00796b" in response.data


def test_maskable_icon_keeps_the_mark_in_the_safe_zone(client):
    """Launchers crop maskable icons to shapes as small as a circle of 40% radius."""
    rows = png_rgb_rows(get(client, "/static/icons/maskable-512.png").data)
    size = len(rows)
    centre, radius = size / 2, 0.4 * size
    marked = [(x, y) for y, row in enumerate(rows) for x in range(size) if row[3 * x:3 * x + 3] != TEAL]
    assert marked, "the icon has no mark"
    assert all((x + 0.5 - centre) ** 2 + (y + 0.5 - centre) ** 2 <= radius ** 2 for x, y in marked)


def test_service_worker_is_served_for_the_whole_origin(client):
    response = get(client, "/sw.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    source = response.get_data(as_text=True)
    assert "/*PRECACHE*/" not in source
    assert "importScripts(\"/static/vendor/workbox-v7.4.1/workbox-sw.js\")" in source


def plain(url: str) -> str:
    """A precached URL without its content hash (mkassa/assets.py)."""
    return re.sub(r"\.[0-9a-f]{12}(\.[^./]+)$", r"\1", url)


def test_precache_covers_the_shell(client):
    urls = {plain(entry["url"]) for entry in precache_entries(client)}
    assert {"/offline", "/queue", "/static/css/app.css", "/static/js/app.js", "/static/js/queue.js",
            "/static/vendor/pico-2.1.1/pico.min.css", "/static/vendor/htmx-4.0.1/htmx.min.js",
            "/static/icons/icon-192.png", "/static/icons/icon-512.png", "/static/icons/maskable-512.png",
            "/static/icons/apple-touch-icon.png", "/static/icons/favicon.svg"} <= urls
    assert "/static/sw.js" not in urls
    assert len(urls) == len(precache_entries(client)), "duplicate precache entries"


def test_precache_urls_answer_anonymously_and_revisions_match_the_files(app, client):
    """The worker fetches the shell without cookies; every answer must be a 200."""
    static = Path(app.static_folder)
    for entry in precache_entries(client):
        response = get(client, entry["url"])
        assert response.status_code == 200, entry["url"]
        assert re.fullmatch(r"[0-9a-f]{12}", entry["revision"]), entry
        if entry["url"].startswith("/static/"):
            # The very URL the pages ask for: content-hashed, like url_for("static") gives it.
            assert entry["url"] != plain(entry["url"]), entry
            path = static / plain(entry["url"]).removeprefix("/static/")
            assert response.data == path.read_bytes()
            assert entry["revision"] == hashlib.sha256(path.read_bytes()).hexdigest()[:12], entry["url"]


@pytest.mark.parametrize("module", ["sw", "core", "precaching", "routing", "strategies", "expiration",
                                    "navigation-preload", "background-sync"])
def test_workbox_modules_the_worker_loads_are_vendored(client, module):
    name = "workbox-sw.js" if module == "sw" else f"workbox-{module}.prod.js"
    assert get(client, f"/static/vendor/workbox-v7.4.1/{name}").status_code == 200


def test_offline_page_renders_without_login(client):
    response = get(client, "/offline")
    assert response.status_code == 200
    html = response.data.decode()
    assert 'data-testid="offline"' in html
    assert 'rel="manifest"' in html


def test_queue_page_renders_without_login_and_holds_no_user_data(client, auth, demo):
    """The worker keeps an anonymous copy of /queue for offline use: its rows come from the phone."""
    anonymous = get(client, "/queue")
    assert anonymous.status_code == 200
    html = anonymous.data.decode()
    assert 'data-testid="queue-page"' in html and 'id="queue-list"' in html
    assert 'name="queue-owner"' not in html  # no one's queue is claimed by the cached copy
    auth.login("demo")
    signed_in = get(client, "/queue").data.decode()
    assert 'name="queue-owner"' in signed_in  # the live page claims the queue for its user


def test_queueable_forms_are_marked_and_secrets_never_are(client, auth, demo):
    """Only actions that can wait carry data-queue; sign-in, withdrawals and payments never do."""
    assert "data-queue=" not in get(client, "/login").data.decode()
    auth.login("demo")
    for path in ("/org/points/new", "/shifts/settings"):
        assert "data-queue=" in get(client, path).data.decode(), path
    for path in ("/pay/", "/payouts/"):
        page = get(client, path)
        assert page.status_code == 200, path
        body = page.data.decode()
        # The queueable forms on a money page: the header's language switch and, on the accept screen,
        # the phone's report of a QR it made offline (the payer's bank moves that money, not the queue).
        queued = re.findall(r'<form[^>]*data-queue=[^>]*>', body)
        assert 'class="lang-switch"' in body, path
        expected = 2 if path == "/pay/" else 1
        assert len(queued) == expected, path
        if path == "/pay/":
            [upload] = [f for f in queued if "lang-switch" not in f]
            assert 'action="/pay/offline"' in upload
            assert not re.search(r'<form[^>]*action="/pay/"[^>]*data-queue', body)
