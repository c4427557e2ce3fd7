"""The bank console (D4): merchants and their owners; the SMS outbox in sandbox mode."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...extensions import db
from ...models import Merchant, User
from ...security import admin_required
from ...services import Invalid
from ...services.merchants import create_merchant

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def index():
    merchants = db.session.execute(
        select(Merchant, User).join(User, (User.merchant_id == Merchant.id) & (User.role == "owner"))
        .order_by(Merchant.created_at.desc())).all()
    return render_template("admin/index.html", merchants=merchants)


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
