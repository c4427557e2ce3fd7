"""Quick access (M1.3, D1): create a PIN, the lock screen, passkeys (the devices page: account.devices)."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ...security import SESSION_TOKEN_KEY, make_public, reports_open
from ...services import Invalid, audit, devices, passkeys
from ...services import auth as auth_service
from ..common import safe_next
from . import bp, set_cookie

PENDING_DEVICE_KEY = "pending_device"
make_public("auth.lock", "auth.lock_passkey_options", "auth.lock_passkey")


def _next() -> str:
    return safe_next(request.values.get("next")) or url_for("home.index")


def sign_in(user) -> None:
    """A new server-side session for `user` in a fresh cookie (nothing from before survives)."""
    token = auth_service.start_session(user, request.user_agent.string)
    session.clear()
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True


def set_device_cookie(response, token: str) -> None:
    set_cookie(response, devices.DEVICE_COOKIE, token, devices.DEVICE_COOKIE_SECONDS)


def current_device():
    return devices.load(request.cookies.get(devices.DEVICE_COOKIE))


def _relying_party() -> tuple[str, str]:
    """WebAuthn binds a passkey to the host name; the origin must match what the browser saw."""
    return request.host.split(":")[0], request.host_url.rstrip("/")


# --- Create quick access: PIN, repeat, then the passkey offer -------------------------------------

@bp.route("/quick-access", methods=["GET", "POST"])
def pin_new():
    errors = {}
    if request.method == "POST":
        try:
            device = devices.start(current_user, request.form.get("pin", ""), request.user_agent.string)
        except Invalid as exc:
            errors = exc.errors
        else:
            session[PENDING_DEVICE_KEY] = device.public_id
            return redirect(url_for("auth.pin_repeat", next=_next()))
    return render_template("auth/pin.html", step="new", errors=errors, next=_next()), 422 if errors else 200


@bp.route("/quick-access/repeat", methods=["GET", "POST"])
def pin_repeat():
    device = devices.pending(current_user, session.get(PENDING_DEVICE_KEY))
    if device is None:
        return redirect(url_for("auth.pin_new", next=_next()))
    if request.method == "POST":
        try:
            token = devices.confirm(device, request.form.get("pin", ""), replaces=current_device())
        except Invalid as exc:
            # Start over: the first entry is forgotten (its row is cleared at the next start).
            session.pop(PENDING_DEVICE_KEY, None)
            return render_template("auth/pin.html", step="new", errors=exc.errors, next=_next()), 422
        session.pop(PENDING_DEVICE_KEY, None)
        audit.record(current_user, "auth.pin_created", merchant_id=current_user.merchant_id, obj=device)
        response = redirect(url_for("auth.passkey_offer", next=_next()))
        set_device_cookie(response, token)
        return response
    return render_template("auth/pin.html", step="repeat", errors={}, next=_next())


@bp.get("/quick-access/passkey")
def passkey_offer():
    return render_template("auth/passkey_offer.html", next=_next())


@bp.post("/passkeys/options")
def passkey_register_options():
    rp_id, _origin = _relying_party()
    return jsonify(passkeys.registration_options(current_user, rp_id))


@bp.post("/passkeys")
def passkey_register():
    rp_id, origin = _relying_party()
    try:
        passkey = passkeys.register(current_user, request.get_json(silent=True) or {}, rp_id, origin,
                                    name=request.user_agent.string, device=current_device())
    except passkeys.PasskeyError as exc:
        return jsonify(error=exc.message), exc.status
    audit.record(current_user, "auth.passkey_added", merchant_id=current_user.merchant_id, obj=passkey)
    return jsonify(redirect=_next())


# --- Lock screen: the session idled out, the device is known -------------------------------------

def _device_or_login():
    device = current_device()
    if device is None:
        abort(redirect(url_for("auth.login", next=safe_next(request.values.get("next")))))
    return device


@bp.route("/lock", methods=["GET", "POST"])
def lock():
    if current_user.is_authenticated:
        return redirect(_next())
    device = _device_or_login()
    error = None
    if request.method == "POST":
        if devices.unlock(device, request.form.get("pin", "")):
            sign_in(device.user)
            audit.record(device.user, "auth.unlock", merchant_id=device.user.merchant_id, obj=device)
            return redirect(_next())
        if device.revoked_at is not None or device.failed_pins >= devices.MAX_WRONG_PINS:
            flash(_("5 wrong PINs in a row: quick access on this device is switched off. "
                    "Sign in with your login and password."), "error")
            response = redirect(url_for("auth.login"))
            response.delete_cookie(devices.DEVICE_COOKIE)
            return response
        left = devices.MAX_WRONG_PINS - device.failed_pins
        error = ngettext("Wrong PIN. %(num)d try left.", "Wrong PIN. %(num)d tries left.", left)
    return render_template("auth/lock.html", device=device, user=device.user, error=error, next=_next(),
                           has_passkeys=bool(passkeys.active_for(device.user))), 422 if error else 200


@bp.post("/lock/passkey/options")
def lock_passkey_options():
    device = _device_or_login()
    rp_id, _origin = _relying_party()
    return jsonify(passkeys.authentication_options(device.user, rp_id))


@bp.post("/lock/passkey")
def lock_passkey():
    device = _device_or_login()
    rp_id, origin = _relying_party()
    try:
        passkey = passkeys.authenticate(device.user, request.get_json(silent=True) or {}, rp_id, origin)
    except passkeys.PasskeyError as exc:
        return jsonify(error=exc.message), exc.status
    device.failed_pins = 0
    sign_in(device.user)
    audit.record(device.user, "auth.unlock_passkey", merchant_id=device.user.merchant_id, obj=passkey)
    return jsonify(redirect=_next())


@bp.post("/session/open")
@reports_open
def still_open():
    """static/js/quick-lock.js: this page is on screen (every few seconds) or is leaving it (when the
    app goes to the background). Only moves the session's alive_at (security.load_session)."""
    return "", 204
