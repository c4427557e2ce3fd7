"""Send password (M5.8): the signed-in user gets a code by SMS, then sets a new password and PIN."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from ...services import otp, recovery
from ..auth.recovery import apply_reset
from . import bp


@bp.route("/password", methods=["GET", "POST"])
def send_password():
    if request.method == "POST":
        try:
            recovery.send_code(current_user)
        except (otp.TooManyCodes, otp.Locked, otp.NoPhone) as exc:
            return render_template("account/send_password.html", error=exc.message), exc.status
        return redirect(url_for("account.send_password_confirm"))
    return render_template("account/send_password.html", error=None)


@bp.route("/password/confirm", methods=["GET", "POST"])
def send_password_confirm():
    args = {"phone": current_user.phone, "action": url_for("account.send_password_confirm"),
            "resend": url_for("account.send_password")}
    if request.method == "POST":
        return apply_reset(current_user, args)
    return render_template("auth/reset.html", errors={}, code="", **args)
