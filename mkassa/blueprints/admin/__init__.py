"""The bank console (D4): merchants, users, payments, webhook issues, payouts, the outbox, the audit log.

Desktop tables for bank staff. Every view is `@admin_required`; the queries live in services.console.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...security import admin_required
from ...services import Conflict, Invalid, console
from ...services.merchants import create_merchant, merchant_by_public_id, set_mpos_contract

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _table(template: str, fetch: Callable[[dict[str, str]], console.Page], args: dict[str, str] | None = None,
           problem: str | None = None, status: int = 200, endpoint: str | None = None, **context: Any):
    """Render one console table; a bad filter shows next to its field with a 422 and no rows."""
    args = request.args.to_dict() if args is None else args
    try:
        page, errors = fetch(args), {}
    except Invalid as exc:
        page, errors, status = console.EMPTY, exc.errors, 422
    return render_template(template, page=page, args=args, errors=errors, problem=problem,
                           endpoint=endpoint or request.endpoint, **context), status


@bp.get("/")
@admin_required
def index():
    return _table("admin/index.html", console.merchants)


@bp.route("/merchants/new", methods=["GET", "POST"])
@admin_required
def new_merchant():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            merchant, owner = create_merchant(request.form.to_dict(), current_user)
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(_("Merchant %(name)s created; the owner's login %(login)s and password were sent by SMS.",
                    name=merchant.display_name, login=owner.login), "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/merchant_form.html", form=request.form, errors=errors), (422 if errors else 200)


@bp.post("/merchants/<merchant_id>/mpos")
@admin_required
def set_mpos(merchant_id: str):
    """The MPOS contract flag: with it, the merchant's people see "Card" on the accept screen."""
    merchant = merchant_by_public_id(merchant_id) or abort(404)
    on = request.form.get("on") == "1"
    set_mpos_contract(merchant, on, current_user)
    flash(_("%(name)s may now take card payments through MPOS.", name=merchant.display_name) if on
          else _("%(name)s no longer takes card payments.", name=merchant.display_name), "success")
    return redirect(url_for("admin.index", q=request.form.get("q") or None))


@bp.get("/users")
@admin_required
def users():
    return _table("admin/users.html", console.users, merchants=console.merchant_choices())


@bp.post("/users/<user_id>/active")
@admin_required
def set_user_active(user_id: str):
    user = console.user_by_public_id(user_id) or abort(404)
    active = request.form.get("active") == "1"
    back = {"merchant": user.merchant.public_id} if user.merchant else {"role": user.role}
    try:
        console.set_user_active(user, active, current_user)
    except Conflict as exc:
        return _table("admin/users.html", console.users, args=back, problem=exc.message, status=409,
                      endpoint="admin.users", merchants=console.merchant_choices())
    flash(_("%(login)s may sign in again.", login=user.login) if active
          else _("%(login)s is deactivated and was signed out everywhere.", login=user.login), "success")
    return redirect(url_for("admin.users", **back))


@bp.get("/payments")
@admin_required
def payments():
    return _table("admin/payments.html", console.payments, merchants=console.merchant_choices())


@bp.get("/webhooks")
@admin_required
def webhooks():
    return _table("admin/webhooks.html", console.webhook_issues)


@bp.get("/payouts")
@admin_required
def payouts():
    return _table("admin/payouts.html", console.payouts, merchants=console.merchant_choices())


@bp.get("/refunds")
@admin_required
def refunds():
    return _table("admin/refunds.html", console.refunds, merchants=console.merchant_choices())


@bp.get("/outbox")
@admin_required
def outbox():
    return _table("admin/outbox.html", console.outbox)


@bp.post("/outbox/<int:msg_id>/retry")
@admin_required
def retry_outbox(msg_id: int):
    try:
        console.retry_outbox_message(current_user, msg_id)
    except Conflict as exc:
        flash(str(exc), "error")
    else:
        flash(_("Message %(id)s will be sent again.", id=msg_id), "success")
    return redirect(url_for("admin.outbox", status="dead"), 303)


@bp.get("/callbacks")
@admin_required
def callbacks():
    return _table("admin/callbacks.html", console.callbacks, merchants=console.merchant_choices())


@bp.get("/workers")
@admin_required
def workers():
    """Workers and their heartbeat, the outbox backlog, and the periodic jobs (failing ones first)."""
    return render_template("admin/workers.html", bg=console.background(), endpoint=request.endpoint)


@bp.get("/audit")
@admin_required
def audit():
    return _table("admin/audit.html", console.audit_log, merchants=console.merchant_choices())
