"""Shifts (M5.5): shift mode and the report address (owner), open/close, shift history."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from ...extensions import limiter
from ...models import Shift
from ...security import get_scoped_or_404, make_public, merchant_user_required, owner_required, scoped
from ...services import Conflict, Invalid, shift_mail, shifts
from ..common import public_url, safe_next

bp = Blueprint("shifts", __name__, url_prefix="/shifts")

# Opened from the e-mail, maybe on another device: the signed link itself is the proof.
make_public("shifts.confirm_email")
# Confirmation e-mails an owner may trigger: each one lands in somebody's inbox.
EMAIL_SENDS_PER_HOUR = 5
EMAIL_LIMIT = f"{EMAIL_SENDS_PER_HOUR} per hour"


@bp.app_template_global("current_shift")
def current_shift() -> Shift | None:
    """The signed-in person's open shift, for the shift bar on the payment screen."""
    if not current_user.is_authenticated or current_user.merchant_id is None:
        return None
    return shifts.open_shift_of(current_user)


@bp.get("/")
@merchant_user_required
def index():
    stmt = scoped(Shift).options(joinedload(Shift.cashier), joinedload(Shift.point))
    page = shifts.history_page(stmt, request.args.get("before"))
    return render_template("shifts/index.html", rows=page.rows, totals=shifts.paid_totals(s.id for s in page.rows),
                           current=shifts.open_shift_of(current_user), merchant=current_user.merchant,
                           next_cursor=page.next_cursor)


@bp.post("/open")
@merchant_user_required
def open_shift():
    try:
        shift = shifts.open_shift(current_user)
    except Conflict as exc:
        flash(exc.message, "warning")
        return redirect(url_for("shifts.index"), 303)
    flash(_("Shift opened. You can take payments."), "success")
    return redirect(safe_next(request.form.get("next"), url_for("shifts.show", public_id=shift.public_id)), 303)


@bp.get("/<public_id>")
@merchant_user_required
def show(public_id: str):
    shift = get_scoped_or_404(Shift, public_id)
    return render_template("shifts/show.html", shift=shift, summary=shifts.summarize(shift),
                           method_label=shifts.method_label, status_label=shifts.status_label)


@bp.route("/<public_id>/close", methods=["GET", "POST"])
@merchant_user_required
def close(public_id: str):
    """GET asks (closing cannot be undone) and says where the report will go; POST closes."""
    shift = get_scoped_or_404(Shift, public_id)
    address = shifts.report_address(current_user.merchant)
    if request.method == "GET":
        if not shift.is_open:
            return redirect(url_for("shifts.show", public_id=public_id))
        return render_template("shifts/close.html", shift=shift, summary=shifts.summarize(shift), address=address)
    try:
        shifts.close_shift(shift, current_user)
    except Conflict as exc:
        flash(exc.message, "warning")
    else:
        flash(_("Shift closed. The report is on its way to %(email)s.", email=address) if address else
              _("Shift closed. No report was e-mailed: no confirmed address for shift reports."), "success")
    return redirect(url_for("shifts.show", public_id=public_id), 303)


@bp.route("/settings", methods=["GET", "POST"])
@owner_required
def settings():
    merchant = current_user.merchant
    if request.method == "POST":
        on = request.form.get("shift_mode") == "on"
        shifts.set_shift_mode(merchant, on, current_user)
        flash(_("Work in shifts is on.") if on else _("Work in shifts is off."), "success")
        return redirect(url_for("shifts.settings"), 303)
    return render_template("shifts/settings.html", merchant=merchant)


@bp.route("/email", methods=["GET", "POST"])
@owner_required
@limiter.limit(EMAIL_LIMIT, methods=["POST"], key_func=lambda: f"shift-email:{current_user.id}")
def email():
    merchant = current_user.merchant
    if request.method == "POST":
        typed = request.form.get("email", "")
        try:
            address = shift_mail.set_report_email(merchant, typed, current_user,
                                                  public_url("shifts.confirm_email"))
        except Invalid as exc:
            return render_template("shifts/email.html", merchant=merchant, email=typed, errors=exc.errors), 422
        if merchant.report_email_confirmed:
            flash(_("Shift reports go to %(email)s.", email=address), "success")
        else:
            flash(_("We sent a confirmation link to %(email)s. Open it to start receiving shift reports.",
                    email=address), "success")
        return redirect(url_for("shifts.email"), 303)
    return render_template("shifts/email.html", merchant=merchant, email=merchant.report_email or "", errors={})


@bp.route("/email/confirm", methods=["GET", "POST"])
def confirm_email():
    """GET shows a button, POST confirms: mail scanners that open every link confirm nothing."""
    token = request.values.get("token", "")
    try:
        if request.method == "POST":
            merchant = shift_mail.confirm_report_email(token)
            return render_template("shifts/confirmed.html", address=merchant.report_email)
        _merchant, address = shift_mail.read_confirmation(token)
    except Invalid as exc:
        return render_template("shifts/confirm.html", token=None, error=exc.errors["token"]), 400
    return render_template("shifts/confirm.html", token=token, address=address, error=None)
