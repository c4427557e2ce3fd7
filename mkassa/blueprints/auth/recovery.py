"""Forgot password (M2) and forgot PIN (M3) for anyone; the reset step is shared with send password (M5.8)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ...extensions import limiter
from ...htmx import wants_fragment
from ...security import make_public
from ...services import Invalid, audit, otp, recovery, throttle, validation
from . import bp
from .quick import current_device, set_device_cookie, sign_in

# Every POST, valid phone or not, per address: a flood guard in front of the limits of
# services.recovery (which count only the requests that may send an SMS).
RECOVER_LIMIT_PER_ADDRESS = "30 per hour"
RECOVER_PHONE_KEY = "recover_phone"
make_public("auth.recover", "auth.recover_confirm")


def apply_reset(user, template_args: dict, device=None):
    """Check the code and set the new password and PIN; the form again, with errors, otherwise.

    The form keeps the code it was sent; the secrets stay only in the browser (auth/_reset_form.html).
    """
    form = request.form
    htmx = wants_fragment()
    try:
        device_token = recovery.reset(
            user, form.get("code", ""), form.get("password", ""), form.get("password_repeat", ""),
            form.get("pin", ""), form.get("pin_repeat", ""), request.user_agent.string,
            address=request.remote_addr, device=device)
    except Invalid as exc:
        return _reset_form(exc.errors, template_args, htmx), 422
    except throttle.Throttled as exc:
        return _reset_form({"code": exc.message}, template_args, htmx), exc.status
    except (otp.WrongCode, otp.Locked):
        # One message for wrong, expired, used-up and locked codes and for unknown phones alike.
        return _reset_form({"code": _("Wrong or expired code.")}, template_args, htmx), 422
    audit.record(user, "auth.password_reset", merchant_id=user.merchant_id)
    sign_in(user)
    flash(_("Your new password and PIN are set."), "success")
    if htmx:  # the whole page moves on, not a page into the form
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = url_for("home.index")
    else:
        response = redirect(url_for("home.index"))
    set_device_cookie(response, device_token)
    return response


def _reset_form(errors: dict, template_args: dict, htmx: bool) -> str:
    args = {**template_args, "errors": errors, "code": request.form.get("code", "").strip()[:8],
            "secrets_cleared": not htmx}
    return render_template("auth/_reset_form.html" if htmx else "auth/reset.html", **args)


@bp.route("/recover", methods=["GET", "POST"])
@limiter.limit(RECOVER_LIMIT_PER_ADDRESS, methods=["POST"])
def recover():
    errors = {}
    status = 200
    if request.method == "POST":
        try:
            phone = validation.phone(request.form.get("phone", ""))
            recovery.request_code(phone, request.remote_addr, current_device())
        except validation.FieldError as exc:
            errors, status = {"phone": str(exc)}, 422
        except throttle.Throttled as exc:
            # Said as it is: no code went out (for a number with an account or without alike).
            errors, status = {"phone": exc.message}, exc.status
        else:
            session[RECOVER_PHONE_KEY] = phone
            return redirect(url_for("auth.recover_confirm"))
    return render_template("auth/recover.html", errors=errors, phone=request.form.get("phone", "")), status


@bp.route("/recover/confirm", methods=["GET", "POST"])
def recover_confirm():
    phone = session.get(RECOVER_PHONE_KEY)
    if not phone:
        return redirect(url_for("auth.recover"))
    args = {"phone": phone, "action": url_for("auth.recover_confirm"), "resend": url_for("auth.recover")}
    if request.method == "POST":
        return apply_reset(recovery.user_for_phone(phone), args, device=current_device())
    return render_template("auth/reset.html", errors={}, code="", **args)
