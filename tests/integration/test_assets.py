"""Static files (mkassa/assets.py): content-hashed URLs cached for a year, compressed copies built
ahead and chosen by Accept-Encoding; a plain or made-up name is never cached as immutable."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest

from mkassa import assets


def get(client, url: str, **headers):
    with client.get(url, headers=headers) as response:
        response.get_data()
    return response


def stylesheet_url(client) -> str:
    html = get(client, "/login").get_data(as_text=True)
    return re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', html).group(1)


def test_pages_link_static_files_by_content_hash(app, client):
    url = stylesheet_url(client)
    data = (Path(app.static_folder) / "css/app.css").read_bytes()
    assert url == f"/static/css/app.{assets.content_hash(data)}.css"


@pytest.mark.parametrize("accept, encoding, decode", [
    ("gzip, deflate, br", "br", brotli.decompress),
    ("gzip", "gzip", gzip.decompress),
    ("br;q=0, gzip;q=1", "gzip", gzip.decompress),
    ("identity", None, bytes),
])
def test_hashed_names_are_served_compressed_and_immutable(app, client, accept, encoding, decode):
    response = get(client, stylesheet_url(client), **{"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.mimetype == "text/css"
    original = (Path(app.static_folder) / "css/app.css").read_bytes()
    assert decode(response.data) == original
    if encoding:
        assert int(response.headers["Content-Length"]) < len(original) / 2


def test_a_revalidation_answers_not_modified_per_encoding(client):
    url = stylesheet_url(client)
    first = get(client, url, **{"Accept-Encoding": "br"})
    assert get(client, url, **{"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]}).status_code == 304
    # The gzip copy is another representation: the Brotli ETag does not validate it.
    assert get(client, url, **{"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]}).status_code == 200


def test_a_plain_name_is_served_but_revalidated(client):
    response = get(client, "/static/css/app.css", **{"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("url", [
    "/static/css/app.000000000000.css",          # a hash that is not the file's own (stale or made up)
    "/static/css/missing.0123456789ab.css",
    "/static/css/app.css.br",                     # the build's copies are not files of their own
    "/static/sw.js",                              # served at /sw.js only, with its own cache rules
])
def test_a_tampered_or_unknown_name_gets_no_immutable_caching(client, url):
    response = get(client, url, **{"Accept-Encoding": "br"})
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("Cache-Control", "")


def test_images_are_not_compressed_again(client):
    html = get(client, "/login").get_data(as_text=True)
    url = re.search(r'href="(/static/icons/apple-touch-icon\.[0-9a-f]{12}\.png)"', html).group(1)
    response = get(client, url, **{"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_build_writes_only_copies_smaller_than_the_file(tmp_path):
    folder, out = tmp_path / "static", tmp_path / "build"
    (folder / "css").mkdir(parents=True)
    (folder / "css/big.css").write_text("body { color: red; }\n" * 200)
    (folder / "css/tiny.css").write_text("a{}")
    assert assets.build(folder, out) == 4
    manifest = assets.Manifest.scan(folder)
    big = manifest.digests["css/big.css"]
    assert assets.variant_path(out, "css/big.css", big, ".br").exists()
    assert assets.variant_path(out, "css/big.css", big, ".gz").exists()
    assert not assets.variant_path(out, "css/tiny.css", manifest.digests["css/tiny.css"], ".br").exists()
    assert assets.build(folder, out) == 0  # up to date: nothing compressed twice


def test_hashed_name_keeps_the_type_last():
    assert assets.hashed_name("vendor/pico-2.1.1/pico.min.css", "0123456789ab") == \
        "vendor/pico-2.1.1/pico.min.0123456789ab.css"
    assert assets.hashed_name("LICENSE", "0123456789ab") == "LICENSE.0123456789ab"
