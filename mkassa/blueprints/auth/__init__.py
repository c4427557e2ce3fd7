"""Sign-in with bank-issued credentials (M1.2), sign-out, language choice."""
from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...config import LOCALES
from ...security import SESSION_TOKEN_KEY, make_public
from ...services import audit, devices, throttle
from ...services import auth as auth_service
from ..common import own_device, safe_next

bp = Blueprint("auth", __name__)
make_public("auth.intro_done", "auth.logout_confirm")

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
INTRO_COOKIE = "mkassa_intro_seen"
INTRO_COOKIE_SECONDS = 365 * 24 * 3600


def _own_device(login: str):
    """This browser's quick-access device, when it belongs to the account being signed in to."""
    device = devices.load(request.cookies.get(devices.DEVICE_COOKIE))
    if device is not None and device.user.login.lower() == login.strip().lower():
        return device
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(url_for("home.index"))
    error = None
    status = 200
    if request.method == "POST":
        login_name, password = request.form.get("login", ""), request.form.get("password", "")
        own_device = _own_device(login_name)
        try:
            attempt = auth_service.begin_login(login_name, request.remote_addr, own_device)
        except throttle.Throttled as exc:
            return _login_page(exc.message, exc.status)
        user = auth_service.authenticate(login_name, password)
        if user is not None:
            auth_service.login_succeeded(attempt)
            token = auth_service.start_session(user, request.user_agent.string)
            audit.record(user, "auth.login", merchant_id=user.merchant_id)
            # A fresh cookie at every sign-in: nothing from before survives into the session.
            session.clear()
            session[SESSION_TOKEN_KEY] = token
            session.permanent = True
            target = safe_next(request.args.get("next")) or url_for(
                "admin.index" if user.is_admin else "home.index")
            device = devices.load(request.cookies.get(devices.DEVICE_COOKIE))
            if not user.is_admin and (device is None or device.user_id != user.id):
                # First sign-in on this device (M1.3): offer quick access before going on.
                target = url_for("auth.pin_new", next=target)
            response = redirect(target)
            set_cookie(response, INTRO_COOKIE, "1", INTRO_COOKIE_SECONDS)
            return response
        error = auth_service.inactive_reason(login_name, password) or _("Wrong login or password.")
        auth_service.login_failed(login_name, own_device)
        status = 401
    return _login_page(error, status)


def _login_page(error: str | None, status: int):
    return render_template("auth/login.html", error=error, login=request.form.get("login", ""),
                           show_intro=not request.cookies.get(INTRO_COOKIE)), status


@bp.post("/intro/done")
def intro_done():
    """The intro pages (M1.1) were skipped or read: not shown again on this device."""
    response = redirect(url_for("auth.login", next=safe_next(request.form.get("next"))))
    set_cookie(response, INTRO_COOKIE, "1", INTRO_COOKIE_SECONDS)
    return response


def set_cookie(response, name: str, value: str, max_age: int) -> None:
    """A long-lived cookie JavaScript cannot read, sent only to this site (and only over HTTPS in production)."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        secure=current_app.extensions["mkassa.settings"].session_cookie_secure)


KEEP, FORGET = "keep", "forget"


def default_quick_access_choice() -> str:
    # A cashier's phone is usually the shop's, shared by the shift: signing out forgets it unless the
    # cashier says otherwise. An owner's phone is his own.
    return FORGET if current_user.is_authenticated and current_user.is_cashier else KEEP


@bp.get("/logout")
def logout_confirm():
    """Sign-out asks whether to keep quick access (PIN, passkeys) on this phone, as banking apps do."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("auth/logout.html", device=own_device(), choice=default_quick_access_choice())


@bp.post("/logout")
def logout():
    device = own_device()
    choice = request.form.get("quick_access") or default_quick_access_choice()
    response = redirect(url_for("auth.login"))
    if device is not None and choice == FORGET:
        devices.forget(device)
        audit.record(current_user, "auth.device_forgotten", merchant_id=current_user.merchant_id, obj=device)
        response.delete_cookie(devices.DEVICE_COOKIE)
    auth_service.end_session(session.get(SESSION_TOKEN_KEY))
    session.clear()
    return response


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    target = safe_next(request.form.get("next")) or url_for("home.index")
    response = redirect(target)
    if lang in LOCALES:
        response.set_cookie("lang", lang, max_age=LANGUAGE_COOKIE_SECONDS, httponly=True, samesite="Lax",
                            secure=current_app.extensions["mkassa.settings"].session_cookie_secure)
        if current_user.is_authenticated:
            current_user.locale = lang
    g.language_changed = lang
    return response


# The quick-access and recovery views register on this blueprint.
from . import quick, recovery  # noqa: E402,F401
