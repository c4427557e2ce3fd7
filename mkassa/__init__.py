"""MKASSA web: the Bank's merchant payment app."""
from __future__ import annotations

import contextvars
import logging
from typing import Any

from flask import Flask, g, request
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from . import htmx, idempotency
from .config import (DEFAULT_LOCALE, LOCALES, MAX_FORM_MEMORY_BYTES, MAX_FORM_PARTS, MAX_REQUEST_BYTES,
                     SESSION_ABSOLUTE_SECONDS, Settings)
from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate


# No inline scripts or styles anywhere: a style attribute or <style> injected into a page is not applied.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
                           "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
                           "form-action 'self'")
# The same for everyone, never personal: the only responses a browser may keep (they set their own rules).
CACHEABLE_ENDPOINTS = frozenset({"static", "pwa.service_worker", "pwa.manifest"})
# Production tells browsers to use HTTPS only, for a year (the value the HSTS preload list asks for).
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600

# Whether a SQLite transaction starts as BEGIN IMMEDIATE (the default: requests that write, jobs, CLI).
# Tests turn it off for their own inspection queries so that they never block the app.
SQLITE_IMMEDIATE: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_immediate", default=True)
# Requests that only read start as a deferred transaction instead. The tables they may still write,
# each a value set blindly (never read, changed and written back): the session's last activity or its
# end, a partner key's last use. Their reads come from a snapshot the write does not continue
# (_write_lock_on_first_write), so anything else a read request wrote could act on stale rows; the
# tests fail a GET that writes another table.
READ_METHODS = frozenset({"GET", "HEAD"})
READ_REQUEST_WRITES = frozenset({"user_session", "api_key"})


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` is a Settings, or a dict of Settings fields overriding the environment."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env(**(config or {}))
    settings = settings.with_defaults()
    settings.check()

    app = Flask(__name__, instance_path=settings.instance_path, instance_relative_config=False)
    app.extensions["mkassa.settings"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY_BYTES,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        SESSION_COOKIE_NAME="__Host-mkassa" if settings.session_cookie_secure else "mkassa",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_ABSOLUTE_SECONDS,
        # The cookie is written only when the session changes. Refreshed on every answer, a request
        # that set out with the old cookie (the service worker fetching its scripts while a page
        # loads) wrote it back over a newer one and took the page's CSRF token with it: the next
        # form got "expired". Idle and absolute limits live on the server session, not the cookie.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=SESSION_ABSOLUTE_SECONDS,
        WTF_CSRF_SSL_STRICT=settings.session_cookie_secure,
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE="Asia/Bishkek",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        MAIL_SERVER=settings.mail_server or "localhost",
        MAIL_PORT=settings.mail_port,
        MAIL_USE_TLS=settings.mail_use_tls,
        MAIL_USE_SSL=settings.mail_use_ssl,
        MAIL_USERNAME=settings.mail_username or None,
        MAIL_PASSWORD=settings.mail_password or None,
        MAIL_DEFAULT_SENDER=settings.mail_sender,
        MAIL_SUPPRESS_SEND=not settings.mail_server,
        # Production answers only to its public name: a forged Host header gets a 400, never a page.
        TRUSTED_HOSTS=None if settings.sandbox else [settings.public_host],
    )
    if settings.trusted_proxies:
        # The client's address and scheme as the trusted proxies saw them (and no more hops than
        # that: what a client writes into X-Forwarded-For itself is not believed).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    logging.basicConfig(level=settings.log_level)

    db.init_app(app)
    from .services import rollup  # noqa: F401  (keeps payment_day exact on every flush)
    from .services import housekeeping  # noqa: F401  (registers its periodic jobs)
    from .services import callbacks  # noqa: F401  (queues partners' callbacks on every flush)
    from .services import card  # noqa: F401  (registers its periodic job)
    migrate.init_app(app, db, directory=str(_root() / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    mail.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_pragmas(db.engine)

    _register_request_hooks(app)
    from . import assets
    assets.init_app(app)
    _register_blueprints(app, settings)
    _register_cli(app)
    from .errors import register_error_handlers
    from .templating import register_template_helpers
    register_error_handlers(app)
    register_template_helpers(app)
    return app


def _root():
    from pathlib import Path
    return Path(__file__).resolve().parent.parent


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Concurrent requests wait for the write lock instead of failing at once.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(engine) -> None:
    """SQLite: foreign keys on, WAL, and BEGIN IMMEDIATE for every transaction that may write.

    BEGIN IMMEDIATE takes the write lock at the start, so read-then-write races (a balance check
    and its reservation) cannot interleave; pysqlite's own transaction handling is switched off
    so that savepoints work. Read requests (READ_METHODS) begin deferred and take no lock until a
    blind write of theirs (READ_REQUEST_WRITES) needs it.
    """
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        immediate = SQLITE_IMMEDIATE.get()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        conn.info["sqlite_deferred"] = not immediate

    @event.listens_for(engine, "before_cursor_execute")
    def _write_lock_on_first_write(conn, cursor, statement, parameters, context, executemany):
        # A deferred transaction that writes trades its read snapshot for the write lock first: a
        # write in a transaction that has read cannot take the lock once another connection has
        # committed (SQLITE_BUSY at once, no waiting). Inside a savepoint it cannot be ended: SQLite
        # takes the lock as the write asks for it.
        if conn.info.get("sqlite_deferred") and not conn.in_nested_transaction() and \
                not statement.lstrip()[:9].upper().startswith(_READ_ONLY_SQL):
            raw = conn.connection.dbapi_connection
            raw.execute("COMMIT")
            raw.execute("BEGIN IMMEDIATE")
            conn.info["sqlite_deferred"] = False


# Statements that never write: a deferred SQLite transaction runs them without the write lock.
_READ_ONLY_SQL = ("SELECT", "PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _select_locale() -> str:
    from flask_login import current_user
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    cookie = request.cookies.get("lang") if request else None
    if cookie in LOCALES:
        return cookie
    return request.accept_languages.best_match(LOCALES, DEFAULT_LOCALE) if request else DEFAULT_LOCALE


def _register_request_hooks(app: Flask) -> None:
    from .security import require_login

    @app.after_request
    def _commit(response):
        # One transaction per request: the view's work is committed once, or not at all.
        # (Registered first, so it runs after every other after_request hook.)
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
            idempotency.release()
        return response

    production = not app.extensions["mkassa.settings"].sandbox

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if production:  # served over HTTPS only (SESSION_COOKIE_SECURE is enforced there)
            response.headers.setdefault("Strict-Transport-Security",
                                        f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains")
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # Pages, fragments, files and streams are per-user (money data, CSRF tokens): no browser or
            # proxy keeps a copy, not even for the back button. Only the app shell may be cached.
            response.headers["Cache-Control"] = "no-store"
        response.vary.update(htmx.VARY)
        return response

    @app.before_request
    def _immediate():
        # Pages and streams read (SQLite: no write lock, so they never hold off a payment); what a
        # read request writes is a blind value (READ_REQUEST_WRITES), written after the lock is taken.
        g.read_request = request.method in READ_METHODS
        g.sqlite_immediate_token = SQLITE_IMMEDIATE.set(not g.read_request)

    @app.teardown_request
    def _reset_immediate(_exc):
        token = g.pop("sqlite_immediate_token", None)
        if token is not None:
            SQLITE_IMMEDIATE.reset(token)

    app.before_request(require_login)
    idempotency.init_app(app)

    @app.before_request
    def _start_dispatcher():
        settings = app.extensions["mkassa.settings"]
        if settings.outbox_inprocess and "mkassa.dispatcher" not in app.extensions:
            from .worker import Worker
            worker = Worker(app, kind="thread")
            app.extensions["mkassa.dispatcher"] = worker
            worker.start_threads()
        g.settings = settings

    from .health import register as register_health
    register_health(app)


def _register_blueprints(app: Flask, settings: Settings) -> None:
    from .blueprints import register
    register(app, settings)


def _register_cli(app: Flask) -> None:
    from .cli import register
    register(app)
