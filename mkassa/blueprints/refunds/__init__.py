"""Refund a payment (issue #17): amount → SMS code → the payment shows the refund.

Owners always; cashiers only where the owner allows it, their own payments of the same day
(services.refunds.refusal). The payment is found through its scope, so a cashier never reaches
another's payment.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import Payment, Refund
from ...formatting import money
from ...security import get_scoped_or_404, merchant_user_required, owner_required
from ...services import Invalid, ServiceError, audit, otp, refunds

bp = Blueprint("refunds", __name__, url_prefix="/refunds")


def _new_page(payment: Payment, amount: str | None = None, errors: dict | None = None, status: int = 200):
    left = refunds.refundable(payment)
    reason = refunds.refusal(current_user, payment) or (
        None if left else _("This payment has already been refunded in full."))
    if amount is None:  # the whole of what is left, by default
        amount = money(left, False) if left else ""
    return render_template("refunds/new.html", payment=payment, left=left, reason=reason, amount=amount,
                           refunds=refunds.refunds_of(payment), errors=errors or {}), status


@bp.get("/payment/<payment_id>")
@merchant_user_required
def new(payment_id: str):
    payment = get_scoped_or_404(Payment, payment_id)
    return _new_page(payment)


@bp.post("/payment/<payment_id>")
@merchant_user_required
def create(payment_id: str):
    payment = get_scoped_or_404(Payment, payment_id)
    amount = request.form.get("amount", "")
    try:
        refund = refunds.request_refund(current_user, payment, amount)
    except ServiceError as exc:
        return _new_page(payment, amount, exc.form_errors("amount"), exc.status)
    return redirect(url_for("refunds.confirm", public_id=refund.public_id), 303)


def _confirm_page(refund: Refund, errors: dict | None = None, status: int = 200):
    return render_template("refunds/confirm.html", refund=refund, errors=errors or {},
                           lifetime_minutes=otp.CODE_LIFETIME_SECONDS // 60), status


@bp.get("/<public_id>/confirm")
@merchant_user_required
def confirm(public_id: str):
    refund = get_scoped_or_404(Refund, public_id)
    if refund.status != "requested":
        return redirect(url_for("pay.show", public_id=refund.payment.public_id))
    return _confirm_page(refund)


@bp.post("/<public_id>/confirm")
@merchant_user_required
def confirm_code(public_id: str):
    refund = get_scoped_or_404(Refund, public_id)
    try:
        refunds.confirm(current_user, refund, request.form.get("code", ""))
    except (otp.WrongCode, otp.Locked) as exc:
        return _confirm_page(refund, {"code": exc.message}, exc.status)
    except Invalid as exc:
        return _new_page(refund.payment, None, exc.form_errors("amount"), exc.status)
    except ServiceError as exc:
        return _new_page(refund.payment, None, {"amount": exc.message}, exc.status)
    flash(_("Refund confirmed. The Bank is returning the money to the payer."), "success")
    return redirect(url_for("pay.show", public_id=refund.payment.public_id), 303)


@bp.post("/<public_id>/resend")
@merchant_user_required
def resend(public_id: str):
    refund = get_scoped_or_404(Refund, public_id)
    try:
        refunds.resend_code(current_user, refund)
    except ServiceError as exc:
        return _confirm_page(refund, {"code": exc.message}, exc.status)
    flash(_("A new code is on its way."), "success")
    return redirect(url_for("refunds.confirm", public_id=public_id), 303)


@bp.route("/settings", methods=["GET", "POST"])
@owner_required
def settings():
    merchant = current_user.merchant
    if request.method == "POST":
        on = request.form.get("cashiers_may_refund") == "on"
        if merchant.cashiers_may_refund != on:
            merchant.cashiers_may_refund = on
            audit.record(current_user, "refunds.cashiers_on" if on else "refunds.cashiers_off",
                         merchant_id=merchant.id, obj=merchant)
        flash(_("Saved."), "success")
        return redirect(url_for("refunds.settings"), 303)
    return render_template("refunds/settings.html", merchant=merchant)
