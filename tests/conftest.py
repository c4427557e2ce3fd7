"""Test fixtures: a database of the run's own (SQLite, or PostgreSQL with --db=postgresql),
the schema from the Alembic migrations, a clean slate after every test, and helpers to sign in.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, event, inspect, make_url, text

from flask import g, has_app_context, has_request_context, request
from flask_babel import force_locale
from flask.testing import FlaskClient

from mkassa import READ_REQUEST_WRITES, SQLITE_IMMEDIATE, create_app
from mkassa.config import Settings
from mkassa.extensions import db, limiter

# The Standard Webhooks known-answer secret: tests sign with it like the Bank would.
TEST_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Hypothesis profiles. `ci` (CI=true, and `make test`, which passes --hypothesis-profile=ci): the full
# number of examples, and a failing example printed as a blob to reproduce it. `dev` (everything else,
# e.g. `make check`): a fifth of the examples and no deadline, for feedback in seconds on a busy
# laptop. A test that needs more or fewer examples asks for a multiple of the profile's
# (`settings().max_examples`), so that it shrinks under `dev` too.
HYPOTHESIS_CI_EXAMPLES = 100  # Hypothesis' own default
HYPOTHESIS_DEV_EXAMPLES = 20
hypothesis_settings.register_profile("ci", max_examples=HYPOTHESIS_CI_EXAMPLES, print_blob=True)
hypothesis_settings.register_profile("dev", max_examples=HYPOTHESIS_DEV_EXAMPLES, deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("MKASSA_TEST_DB", "sqlite"),
                     choices=["sqlite", "postgresql"], help="database the suite runs on")


def pytest_report_header(config):
    return f"database: {config.getoption('--db')}"


def _pg_base() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.config.getoption("--db") == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    with _postgres_database(make_url(_pg_base()), f"mkassa_test_{os.getpid()}_{uuid.uuid4().hex[:8]}") as url:
        yield url


@contextmanager
def _postgres_database(server, name: str) -> Iterator[str]:
    """A PostgreSQL database of the run's own on `server`, dropped afterwards."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing():
    """Argon2 at its cheapest in tests: the same code paths, without half a second per hash."""
    from argon2 import PasswordHasher

    from mkassa.services import auth as auth_service
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    saved = auth_service._hasher, auth_service._DUMMY_HASH
    auth_service._hasher, auth_service._DUMMY_HASH = hasher, hasher.hash("dummy")
    yield
    auth_service._hasher, auth_service._DUMMY_HASH = saved


# Every call that leaves for a gateway (SMS, SMTP, push, core bank, payouts, the sandbox bank's
# webhooks): made with a database transaction open, it would hold row locks (on SQLite the write
# lock) while a slow gateway takes its time. The instrument below fails such a call, suite-wide.
GATEWAY_CALLS = (
    ("mkassa.gateways.corebank", "find_payment"),
    ("mkassa.gateways.corebank", "find_payout"),
    ("mkassa.gateways.corebank", "request_payout"),
    ("mkassa.gateways.corebank", "find_card_payment"),
    ("mkassa.gateways.corebank", "request_refund"),
    ("mkassa.gateways.corebank", "find_refund"),
    ("mkassa.gateways.sms", "_post_to_gateway"),
    ("mkassa.gateways.sandbox.sms", "store"),
    ("mkassa.services.mailer", "send"),
    ("mkassa.services.push", "webpush"),
    ("mkassa.gateways.sandbox.bank", "send"),
    ("mkassa.gateways.callbacks", "send"),
)


class TransactionOpenDuringGatewayCall(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_gateway_call_in_a_transaction(monkeypatch):
    """Fail any gateway call made while the calling session is in a transaction (issue #13)."""
    import functools
    import importlib

    violations: list[str] = []

    def guard(name, fn):
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            if has_app_context() and db.session().in_transaction():
                violations.append(name)
                raise TransactionOpenDuringGatewayCall(f"{name} called with a database transaction open")
            return fn(*args, **kwargs)
        return guarded

    for module_name, attr in GATEWAY_CALLS:
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, attr, guard(f"{module_name}.{attr}", getattr(module, attr)))
    yield violations
    # Also caught when a dispatcher or a job swallowed the exception (it retries, and logs it).
    assert not violations, f"gateway called inside a transaction: {violations}"


def make_settings(database_url: str, instance_path: str, **overrides) -> Settings:
    values = dict(testing=True, database_url=database_url, instance_path=instance_path,
                  secret_key="test-secret-key-" + "x" * 32, webhook_secret=TEST_WEBHOOK_SECRET,
                  outbox_inprocess=False, public_base_url="http://localhost")
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def _app(database_url, tmp_path_factory):
    app = create_app(make_settings(database_url, str(tmp_path_factory.mktemp("instance"))))
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(revision="heads")
        _watch_read_requests(db.engine)
    yield app
    with app.app_context():
        db.engine.dispose()


def _wipe(app) -> None:
    # Mail files are named by outbox id, and ids start again after the wipe: old files go with them.
    for path in (Path(app.instance_path) / "mail").glob("*.eml"):
        path.unlink()
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in existing]
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))


# The test thread's own transactions are deferred (see `app`), like a read request's: their first
# write trades the read snapshot for the write lock (mkassa._write_lock_on_first_write). Without it a
# test that reads, then writes (seeding, back-dating a row) would fail at random whenever the worker
# had committed in between ("database is locked" at once, in WAL mode).

# What read requests (GET, HEAD) wrote during the current test, by table: a read request may write
# only blind values in READ_REQUEST_WRITES (its reads come from a snapshot its write does not continue).
_READ_REQUEST_WRITES: list[str] = []
_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+\"?(\w+)", re.IGNORECASE)


def _watch_read_requests(engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        # g.read_request: a request the app serves (not a test's test_request_context, which builds URLs).
        if has_request_context() and g.get("read_request"):
            written = _WRITE.match(statement)
            if written:
                _READ_REQUEST_WRITES.append(f"{request.method} {request.path}: {written.group(1)}")


@pytest.fixture(autouse=True)
def _read_requests_write_only_blind_values():
    _READ_REQUEST_WRITES.clear()
    yield
    refused = [w for w in _READ_REQUEST_WRITES if w.rsplit(": ", 1)[1] not in READ_REQUEST_WRITES]
    assert not refused, f"a read request wrote outside READ_REQUEST_WRITES: {refused}"


class FreshContextClient(FlaskClient):
    """Each request runs in an app context (and database session) of its own, as in production.

    The test's own session commits first, so what the test set up is visible to the request and
    the test sees the request's effects afterwards (commit expires loaded objects).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Tests read English unless they choose a language (a "lang" cookie outranks this).
        self.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(_app):
    limiter.reset()
    _app.test_client_class = FreshContextClient
    # The test's inspection queries use deferred transactions: they never block the app's writers.
    token = SQLITE_IMMEDIATE.set(False)
    try:
        # Services called straight from a test speak English, like the test client (see above).
        with _app.app_context(), force_locale("en"):
            yield _app
            db.session.remove()
    finally:
        SQLITE_IMMEDIATE.reset(token)
    _wipe(_app)


@pytest.fixture
def scratch_database_url(database_url, tmp_path) -> Iterator[str]:
    """An empty database of its own (a SQLite file, or a new PostgreSQL database), dropped after."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    with _postgres_database(url, f"mkassa_scratch_{uuid.uuid4().hex[:10]}") as scratch:
        yield scratch


@pytest.fixture
def make_app(database_url, tmp_path):
    """Another app on the test database with other settings (its engine disposed afterwards)."""
    made = []

    def factory(**overrides):
        url = overrides.pop("database_url", database_url)
        app = create_app(make_settings(url, str(tmp_path / f"instance{len(made)}"), **overrides))
        made.append(app)
        return app
    yield factory
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Auth:
    """Sign in and out through the real form, like flaskr's `auth` fixture."""

    def __init__(self, client):
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        html = self.client.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, login: str, password: str = "demo1234"):
        token = self.csrf()
        return self.client.post("/login", data={"login": login, "password": password, "csrf_token": token})

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf("/")})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def demo(app):
    """The sandbox demo merchant (small: 20 payments over the month, 12 today), committed."""
    from mkassa.services.demo import seed
    seed(payments=20)
    db.session.commit()
    from mkassa.models import Merchant, User
    from sqlalchemy import select
    merchant = db.session.scalar(select(Merchant).where(Merchant.display_name == "Demo Shop"))
    users = {u.login: u for u in db.session.scalars(select(User).where(User.merchant_id == merchant.id))}
    return type("Demo", (), {"merchant": merchant, "owner": users["demo"], "cashier": users["cashier"],
                             "cashier2": users["cashier2"], "points": merchant.points})


@pytest.fixture
def admin_user(app):
    from mkassa.models import User
    from mkassa.services.auth import hash_password
    user = User(role="admin", login="operator", name="Operator", password_hash=hash_password("operator-pass-1"))
    db.session.add(user)
    db.session.commit()
    return user


class LiveServer:
    def __init__(self, app, host: str = "localhost"):
        from werkzeug.serving import make_server
        self.server = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(_app, app):
    """The test app served on http://localhost:<port> with the in-process outbox dispatcher
    running, as under `make run` (WebAuthn needs the name localhost, not 127.0.0.1)."""
    from mkassa.worker import Worker
    dispatcher = Worker(_app, kind="thread")
    _app.extensions["mkassa.dispatcher"] = dispatcher
    dispatcher.start_threads()
    try:
        with LiveServer(_app) as server:
            yield server.url
    finally:
        dispatcher.stop()
        dispatcher.join()
        _app.extensions.pop("mkassa.dispatcher", None)
