"""Withdraw funds (M7), owners only: amount → "Confirm withdrawal" → SMS code → "Success!"."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...htmx import wants_fragment
from ...models import Payout
from ...security import get_scoped_or_404, owner_required, scoped
from ...services import Invalid, ServiceError, ledger, otp, payouts

bp = Blueprint("payouts", __name__, url_prefix="/payouts")


def _index(amount: str = "", errors: dict | None = None, status: int = 200):
    merchant = current_user.merchant
    return render_template("payouts/index.html", merchant=merchant, reason=payouts.unavailable_reason(merchant),
                           balances=ledger.balances(merchant.id), history=payouts.history(scoped(Payout)),
                           amount=amount, errors=errors or {}), status


@bp.get("/")
@owner_required
def index():
    return _index()


@bp.post("/")
@owner_required
def create():
    amount = request.form.get("amount", "")
    try:
        payout = payouts.request_withdrawal(current_user, amount)
    except ServiceError as exc:
        return _index(amount, exc.form_errors("amount"), exc.status)
    return redirect(url_for("payouts.confirm", public_id=payout.public_id), 303)


def _confirm_page(payout: Payout, errors: dict | None = None, status: int = 200):
    return render_template("payouts/confirm.html", payout=payout, errors=errors or {},
                           lifetime_minutes=otp.CODE_LIFETIME_SECONDS // 60), status


@bp.get("/<public_id>/confirm")
@owner_required
def confirm(public_id: str):
    payout = get_scoped_or_404(Payout, public_id)
    if payout.status != "requested":
        return redirect(url_for("payouts.show", public_id=public_id))
    return _confirm_page(payout)


@bp.post("/<public_id>/confirm")
@owner_required
def confirm_code(public_id: str):
    payout = get_scoped_or_404(Payout, public_id)
    try:
        payouts.confirm(current_user, payout, request.form.get("code", ""))
    except (otp.WrongCode, otp.Locked) as exc:
        return _confirm_page(payout, {"code": exc.message}, exc.status)
    except Invalid as exc:
        return _confirm_page(payout, exc.errors, exc.status)
    except ServiceError as exc:
        return _index(errors={"amount": exc.message}, status=exc.status)
    return redirect(url_for("payouts.show", public_id=public_id), 303)


@bp.post("/<public_id>/resend")
@owner_required
def resend(public_id: str):
    payout = get_scoped_or_404(Payout, public_id)
    try:
        payouts.resend_code(current_user, payout)
    except ServiceError as exc:
        return _confirm_page(payout, {"code": exc.message}, exc.status)
    flash(_("A new code is on its way."), "success")
    return redirect(url_for("payouts.confirm", public_id=public_id), 303)


@bp.get("/<public_id>")
@owner_required
def show(public_id: str):
    payout = get_scoped_or_404(Payout, public_id)
    if payout.status == "requested":
        return redirect(url_for("payouts.confirm", public_id=public_id))
    if wants_fragment():
        return render_template("payouts/_status.html", payout=payout)
    return render_template("payouts/show.html", payout=payout)
