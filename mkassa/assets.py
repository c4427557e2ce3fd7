"""Static files: content-hashed URLs cached for a year, served gzip- or Brotli-compressed.

`url_for("static", filename="css/app.css")` gives `/static/css/app.<hash>.css` (the first 12 hex
digits of the file's SHA-256): a browser may keep it for good, since a changed file gets a new URL.
The plain name still answers, with `no-cache` (a browser revalidates it): the service worker's
importScripts and leaflet.css's relative image URLs use plain names. A name with a hash that is not
the file's own is not found, so nothing stale is ever cached as immutable.

Compressed copies are build products: `python -m mkassa.assets` (`make install`) writes them under
mkassa/static-build/, keyed by content hash; an app that starts without them builds what is missing
first (about a second, once). Nothing is compressed per request.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, abort, current_app, request, send_file

log = logging.getLogger(__name__)

STATIC_FOLDER = Path(__file__).resolve().parent / "static"
BUILD_FOLDER = Path(__file__).resolve().parent / "static-build"
HASH_LENGTH = 12
# Hashed names never change content: kept a year (the customary maximum), never revalidated.
IMMUTABLE = "public, max-age=31536000, immutable"
# Plain names may change with a deploy: kept, but revalidated (ETag) before every use.
REVALIDATE = "no-cache"
# Served by the pwa blueprint at /sw.js with its own headers; never under /static/.
NOT_SERVED = frozenset({"sw.js"})
# Text formats worth compressing; images (PNG) are compressed already.
COMPRESSIBLE = frozenset({".css", ".js", ".svg", ".json", ".txt", ".md", ".webmanifest"})
# Preferred first: Brotli is ~15% smaller than gzip on CSS and JS.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_LENGTH]


def hashed_name(name: str, digest: str) -> str:
    """css/app.css → css/app.<digest>.css (the hash before the last suffix, so the type stays)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest}"
    return f"{stem}.{digest}.{suffix}"


@dataclass(eq=False)  # one per app, hashed by identity (the service worker cache keys on it)
class Manifest:
    """Every served static file: plain name → content hash, and hashed name → plain name."""
    digests: dict[str, str] = field(default_factory=dict)
    by_hashed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def scan(cls, folder: Path) -> "Manifest":
        manifest = cls()
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if not path.is_file() or name in NOT_SERVED or any(p.startswith(".") for p in name.split("/")):
                continue
            digest = content_hash(path.read_bytes())
            manifest.digests[name] = digest
            manifest.by_hashed[hashed_name(name, digest)] = name
        return manifest

    def url_name(self, name: str) -> str:
        digest = self.digests.get(name)
        return hashed_name(name, digest) if digest else name


def variant_path(build: Path, name: str, digest: str, extension: str) -> Path:
    return build / f"{hashed_name(name, digest)}{extension}"


def build(folder: Path = STATIC_FOLDER, out: Path = BUILD_FOLDER, manifest: Manifest | None = None) -> int:
    """Write the missing gzip and Brotli copies (only where smaller than the file); returns how many."""
    import brotli
    manifest = manifest or Manifest.scan(folder)
    written = 0
    for name, digest in manifest.digests.items():
        if Path(name).suffix not in COMPRESSIBLE:
            continue
        data = None
        for _, extension in ENCODINGS:
            target = variant_path(out, name, digest, extension)
            if target.exists() or target.with_name(target.name + ".skip").exists():
                continue
            data = data if data is not None else (folder / name).read_bytes()
            packed = (brotli.compress(data, quality=11) if extension == ".br"
                      else gzip.compress(data, compresslevel=9, mtime=0))
            # A copy no smaller than the file is not kept; the marker says it was tried.
            _write_atomically(target if len(packed) < len(data) else target.with_name(target.name + ".skip"),
                              packed if len(packed) < len(data) else b"")
            written += 1
    return written


def _write_atomically(target: Path, data: bytes) -> None:
    """Several web processes may build at the same start: each writes its own file, then renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(temporary, 0o644)  # public files: the web user may differ from the one who built them
    os.replace(temporary, target)


def init_app(app: Flask) -> None:
    """Hashed URLs from url_for("static"), and the static view below in place of Flask's."""
    folder = Path(app.static_folder)
    manifest = Manifest.scan(folder)
    try:
        build(folder, BUILD_FOLDER, manifest)
    except OSError:  # a read-only install without `make install`'s build: served uncompressed
        log.warning("static files: cannot write compressed copies to %s", BUILD_FOLDER, exc_info=True)
    app.extensions["mkassa.assets"] = manifest

    @app.url_defaults
    def _hashed_static_url(endpoint, values):
        # In debug a file edited on disk must reach the browser at once: plain names, revalidated.
        if endpoint == "static" and "filename" in values and not app.debug:
            values["filename"] = manifest.url_name(values["filename"])

    app.view_functions["static"] = serve


def manifest() -> Manifest:
    return current_app.extensions["mkassa.assets"]


def serve(filename: str):
    known = manifest()
    if filename in known.by_hashed:
        name, cache_control = known.by_hashed[filename], IMMUTABLE
    elif filename in known.digests:
        name, cache_control = filename, REVALIDATE
    else:
        abort(404)  # not a file, or a hash that is not the file's own (stale or made up)
    digest = known.digests[name]
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    path, encoding = Path(current_app.static_folder) / name, None
    accepted = request.accept_encodings
    for candidate, extension in ENCODINGS:
        variant = variant_path(BUILD_FOLDER, name, digest, extension)
        if accepted[candidate] > 0 and variant.exists():
            path, encoding = variant, candidate
            break
    response = send_file(path, mimetype=mimetype, conditional=True, etag=f"{digest}-{encoding or 'identity'}",
                         max_age=None)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = cache_control
    return response


if __name__ == "__main__":  # `python -m mkassa.assets`: build the compressed copies ahead of start
    print(f"static files: {build()} compressed copies written to {BUILD_FOLDER}")
