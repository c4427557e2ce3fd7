"""Deny by default: who may reach which endpoint, and what data they may see.

Every endpoint needs a signed-in user unless it is on the public allow-list; roles are checked by
decorators on top; every query for merchant data goes through `scoped()` (rules per model in
`scope.py`), so ownership is part of the lookup and a foreign id is simply not found.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import Select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from .extensions import db, login_manager
from . import scope
from .scope import select_for
from .htmx import is_htmx
from .services import auth as auth_service
from .services import devices

F = TypeVar("F", bound=Callable[..., Any])

SESSION_TOKEN_KEY = "sid"
# Endpoints anyone may reach. Blueprint-wide public areas are listed as "<blueprint>.".
PUBLIC_ENDPOINTS = {
    "static", "auth.login", "auth.logout", "auth.set_language", "health",
}
PUBLIC_BLUEPRINTS = {"pwa", "bank"}
SANDBOX_PUBLIC_BLUEPRINTS = {"sandbox"}


def make_public(*endpoints: str) -> None:
    PUBLIC_ENDPOINTS.update(endpoints)


def not_a_page(view: F) -> F:
    """Mark a view whose answer is no page to land on (an event stream, JSON): never a `next`.

    After the PIN, a `next` of `/events` showed the raw stream for a minute (#11).
    """
    view.not_a_page = True  # type: ignore[attr-defined]
    return view


def reports_open(view: F) -> F:
    """Mark the view a page calls to say it is still on screen (static/js/quick-lock.js): it restarts
    the quick-lock clock, not the idle one, and is no page to land on."""
    view.reports_open = True  # type: ignore[attr-defined]
    return not_a_page(view)


def _quick_lock(user):
    """The quick-lock time when this browser is `user`'s quick-access device (a PIN can reopen the
    app); None otherwise: without a PIN to ask for, only the idle limit applies."""
    device = devices.load(request.cookies.get(devices.DEVICE_COOKIE))
    # Kept for base.html: the page then reports it is on screen (static/js/quick-lock.js).
    g.quick_lock = devices.quick_lock_after(device) if device is not None and device.user_id == user.id else None
    return g.quick_lock


def passive(view: F) -> F:
    """Mark a view the browser calls by itself (streams): it is not the user's activity, so it never
    keeps a session from idling out. Passive views are not pages either."""
    view.passive = True  # type: ignore[attr-defined]
    return not_a_page(view)


def _view_flag(endpoint: str | None, flag: str) -> bool:
    view = current_app.view_functions.get(endpoint or "")
    return bool(getattr(view, flag, False))


def is_page_path(path: str | None) -> bool:
    """A path on this site that a GET navigation may land on (sign-in's `next`): no stream, no JSON."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return False
    parts = urlsplit(path)
    try:
        endpoint, _args = current_app.url_map.bind("", "/").match(parts.path, "GET")
    except RequestRedirect:
        return True  # e.g. a missing trailing slash: the router redirects to the page
    except HTTPException:
        return False
    return not _view_flag(endpoint, "not_a_page")


def return_path() -> str | None:
    """Where to come back to after signing in again: only a page the user was looking at.

    A full-page GET navigation returns to itself. A background request (htmx, a live stream, the
    quick-lock report) returns to the page it was made from (HX-Current-URL), never to itself.
    """
    if is_htmx():
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.netloc and current.netloc != request.host:
            return None
        path = current.path + (f"?{current.query}" if current.query else "")
    elif request.method == "GET":
        path = request.full_path.rstrip("?")
    else:
        return None
    return path if is_page_path(path) else None


def reauth_url() -> str:
    """The lock screen for a known device, else sign-in, each bringing the user back to `return_path()`."""
    screen = "auth.lock" if devices.load(request.cookies.get(devices.DEVICE_COOKIE)) else "auth.login"
    return url_for(screen, next=return_path())


def is_public(endpoint: str | None) -> bool:
    if endpoint is None:  # 404s and the like: let the router answer
        return True
    if endpoint in PUBLIC_ENDPOINTS:
        return True
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else None
    if blueprint in PUBLIC_BLUEPRINTS:
        return True
    return blueprint in SANDBOX_PUBLIC_BLUEPRINTS and current_app.extensions["mkassa.settings"].sandbox


@login_manager.request_loader
def _load_user_from_session(_request):
    # A stream reconnecting by itself is no sign of a person at the screen: it never extends the session.
    seen = (auth_service.NONE if _view_flag(request.endpoint, "passive")
            else auth_service.OPEN if _view_flag(request.endpoint, "reports_open") else auth_service.ACTIVITY)
    sess = auth_service.load_session(session.get(SESSION_TOKEN_KEY), seen=seen, quick_lock=_quick_lock)
    if sess is None:
        return None
    g.user_session = sess
    return sess.user


def session_ended() -> bool:
    """For a live stream, long after its request was let in: has the session ended since (idle limit,
    quick lock, sign-out)? Reads without extending it."""
    return auth_service.load_session(session.get(SESSION_TOKEN_KEY), seen=auth_service.NONE,
                                     quick_lock=_quick_lock) is None


def require_login():
    """before_request: anonymous users only reach public endpoints."""
    if is_public(request.endpoint) or current_user.is_authenticated:
        return None
    # A known device whose session idled out reopens on the lock screen (PIN or passkey), not the login.
    target = reauth_url()
    if is_htmx():
        # An htmx request that lost its session moves the whole page, not a login form into a div.
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = target
        return response
    if request.method != "GET" or request.accept_mimetypes.best == "application/json" or \
            _view_flag(request.endpoint, "not_a_page"):
        abort(401)
    return redirect(target)


def roles_required(*roles: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated or current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        wrapper.roles = roles  # read by the access-matrix test
        return wrapper  # type: ignore[return-value]
    return decorator


owner_required = roles_required("owner")
merchant_user_required = roles_required("owner", "cashier")
admin_required = roles_required("admin")


def scoped(model, *, user=None) -> Select:
    """SELECT of `model` limited to what `user` (by default the signed-in user) may see.

    Owners see their merchant's rows, cashiers what the model's rule in `scope.RULES` leaves them
    (their own payments and shifts, their point…), bank staff everything (the console). A model
    without a rule raises `scope.Unscoped`. Background jobs pass the user they work for.
    """
    if user is None:
        user = current_user
        if not user.is_authenticated:
            abort(401)
    return select_for(model, user)


# Statements built once per screen shape and kind of user (`prepared`); bounded, though shapes are few.
_PREPARED: dict[tuple, tuple[Any, frozenset[str]]] = {}
_PREPARED_MAX = 1024


def prepared(key: tuple, build: Callable[[], Any], params: dict[str, Any], *, user=None) -> tuple[Any, dict[str, Any]]:
    """The statement `build()` makes from `scoped()` SELECTs, built once per `key` and kind of user
    (scope.kind) and reused, with the parameters to run it with: `params` and the user's scope.

    SQLAlchemy generates a statement's cache key once per statement object, and building the object
    costs as much again: a screen's few SELECTs built per request took more time than they ran. So every
    value that differs between runs of one `key` must be a named bound parameter given in `params`
    (the scope's ids are added here); the values the first build saw are replaced at each run, and a
    named parameter left out is refused, never run with a previous user's value. A value written any
    other way (`column == value`) would be run as the first build saw it, for everyone after: under
    tests every call builds the statement again and refuses one that differs (`_same_but_named`).
    """
    if user is None:
        user = current_user
        if not user.is_authenticated:
            abort(401)
    values = {**scope.params(user), **params}
    cache_key = (key, scope.kind(user), db.session.get_bind().dialect.name)
    entry = _PREPARED.get(cache_key)
    if entry is None:
        stmt = build()
        named = frozenset(b.key for b in stmt._generate_cache_key().bindparams if not b.unique)
        entry = (stmt, named)
        if len(_PREPARED) < _PREPARED_MAX:
            _PREPARED[cache_key] = entry
    stmt, named = entry
    if current_app.testing:
        _same_but_named(key, stmt, build())
    missing = named - values.keys()
    if missing:
        raise LookupError(f"prepared statement {key}: no value for {sorted(missing)}")
    return stmt, values


def _same_but_named(key: tuple, kept, fresh) -> None:
    """Refuse a prepared statement that this request would have built otherwise than the kept one: of
    another shape, or with another value in a parameter that is not named (so not given at each run)."""
    kept_key, fresh_key = kept._generate_cache_key(), fresh._generate_cache_key()
    if kept_key != fresh_key:
        raise AssertionError(f"prepared statement {key}: this request builds another statement; "
                             "what shapes it belongs in the key")
    unnamed = [(a.effective_value, b.effective_value) for a, b in zip(kept_key.bindparams, fresh_key.bindparams)
               if a.unique and a.effective_value != b.effective_value]
    if unnamed:
        raise AssertionError(f"prepared statement {key}: values {unnamed} are not named parameters, so every "
                             "run would use the first one's")


def run_prepared(key: tuple, build: Callable[[], Any], params: dict[str, Any], *, user=None):
    """`prepared`'s statement run on the session's connection (its transaction), after the flush the
    ORM's autoflush would make: for SELECTs of plain columns (no ORM objects), whose rows need none of
    the ORM's loading (a third of a small SELECT's cost)."""
    stmt, values = prepared(key, build, params, user=user)
    db.session.flush()
    return db.session.connection().execute(stmt, values)


def get_scoped_or_404(model, public_id: str, *where, user=None):
    """The object with `public_id` among `scoped(model)`, further narrowed by `where`; else 404."""
    obj = db.session.scalar(scoped(model, user=user).where(model.public_id == public_id, *where))
    if obj is None:
        abort(404)
    return obj
