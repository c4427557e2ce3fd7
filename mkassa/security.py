"""Deny by default: who may reach which endpoint, and what data they may see.

Every endpoint needs a signed-in user unless it is on the public allow-list; roles are checked by
decorators on top; every query for merchant data goes through `scoped()`, so ownership is part of
the lookup and a foreign id is simply not found.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import Select, select

from .extensions import db, login_manager
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
    sess = auth_service.load_session(session.get(SESSION_TOKEN_KEY))
    if sess is None:
        return None
    g.user_session = sess
    return sess.user


def require_login():
    """before_request: anonymous users only reach public endpoints."""
    if is_public(request.endpoint) or current_user.is_authenticated:
        return None
    # A known device whose session idled out reopens on the lock screen (PIN or passkey), not the login.
    screen = "auth.lock" if devices.load(request.cookies.get(devices.DEVICE_COOKIE)) else "auth.login"
    target = url_for(screen, next=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        # An htmx request that lost its session moves the whole page, not a login form into a div.
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = target
        return response
    if request.method != "GET" or request.accept_mimetypes.best == "application/json":
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


def scoped(model, *, own_only: bool = True) -> Select:
    """SELECT of `model` limited to what the current user may see.

    Owners see their merchant's rows; cashiers additionally only their own rows where the model
    records a cashier (payments, shifts…); bank staff see everything (the console).
    """
    stmt = select(model)
    user = current_user
    if not user.is_authenticated:
        abort(401)
    if user.is_admin:
        return stmt
    stmt = stmt.where(model.merchant_id == user.merchant_id)
    if user.is_cashier and own_only and hasattr(model, "cashier_id"):
        stmt = stmt.where(model.cashier_id == user.id)
    return stmt


def get_scoped_or_404(model, public_id: str, **kwargs):
    obj = db.session.scalar(scoped(model, **kwargs).where(model.public_id == public_id))
    if obj is None:
        abort(404)
    return obj
