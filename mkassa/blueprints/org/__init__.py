"""Points of sale and cashiers (M6): owners only; a cashier gets 403 on every page here."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import Point, User
from ...models.merchant import ADDRESS_MAX, POINT_NAME_MAX
from ...models.user import NAME_MAX
from ...security import get_scoped_or_404, owner_required
from ...services import Conflict, Invalid
from ...services import org
from ..common import form_page

bp = Blueprint("org", __name__, url_prefix="/org")

TABS = ("points", "cashiers")


@bp.context_processor
def _limits():
    """Field limits for the forms' maxlength: the same constants the schema uses."""
    return {"POINT_NAME_MAX": POINT_NAME_MAX, "ADDRESS_MAX": ADDRESS_MAX, "NAME_MAX": NAME_MAX}


def _cashier_or_404(user_id: str) -> User:
    return get_scoped_or_404(User, user_id, User.role == "cashier")  # the owner is not managed here


def _points_tab():
    return redirect(url_for("org.index", tab="points"))


def _cashiers_tab():
    return redirect(url_for("org.index", tab="cashiers"))


def _cashier_page(cashier: User | None, form, errors: dict[str, str], status: int = 200):
    return render_template("org/cashier_form.html", cashier=cashier, form=form, errors=errors,
                           points=org.live_points(current_user.merchant_id)), status


def _cashier_values(cashier: User) -> dict[str, str]:
    return {"name": cashier.name, "point": cashier.point.public_id if cashier.point else ""}


@bp.get("/")
@owner_required
def index():
    tab = request.args.get("tab") if request.args.get("tab") in TABS else "points"
    merchant_id = current_user.merchant_id
    return render_template("org/index.html", tab=tab, points=org.live_points(merchant_id),
                           cashiers=org.cashiers(merchant_id),
                           cashier_counts=org.count_cashiers_by_point(merchant_id))


@bp.route("/points/new", methods=["GET", "POST"])
@owner_required
def new_point():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            point = org.create_point(current_user.merchant, request.form.to_dict(), current_user)
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(_("Point %(name)s added.", name=point.name), "success")
            return _points_tab()
    return form_page("org/point_form.html", errors, point=None, form=request.form)


@bp.route("/points/<point_id>", methods=["GET", "POST"])
@owner_required
def edit_point(point_id: str):
    point = get_scoped_or_404(Point, point_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            org.update_point(point, request.form.to_dict(), current_user)
        except (Invalid, Conflict) as exc:
            errors = exc.form_errors("form")
        else:
            flash(_("Point %(name)s saved.", name=point.name), "success")
            return _points_tab()
    form = request.form if request.method == "POST" else {
        "name": point.name, "address": point.address,
        "latitude": point.latitude if point.latitude is not None else "",
        "longitude": point.longitude if point.longitude is not None else ""}
    return form_page("org/point_form.html", errors, point=point, form=form)


@bp.route("/points/<point_id>/delete", methods=["GET", "POST"])
@owner_required
def delete_point(point_id: str):
    """GET asks for confirmation (and names the cashiers to move first); POST deletes or archives."""
    point = get_scoped_or_404(Point, point_id)
    error = None
    if request.method == "POST":
        try:
            outcome = org.remove_point(point, current_user)
        except Conflict as exc:
            error = exc.message
        else:
            flash(_("Point %(name)s archived: its payments keep its name.", name=point.name)
                  if outcome == "archived" else _("Point %(name)s deleted.", name=point.name), "success")
            return _points_tab()
    return render_template("org/point_delete.html", point=point, error=error,
                           blocking=org.active_cashiers_at(point),
                           has_payments=org.point_has_payments(point)), (409 if error else 200)


@bp.route("/cashiers/new", methods=["GET", "POST"])
@owner_required
def new_cashier():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            cashier = org.create_cashier(current_user.merchant, request.form.to_dict(), current_user)
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(_("Cashier %(name)s added. The login %(login)s and a password were sent by SMS to %(phone)s.",
                    name=cashier.name, login=cashier.login, phone=cashier.phone), "success")
            return _cashiers_tab()
    return _cashier_page(None, request.form, errors, 422 if errors else 200)


@bp.route("/cashiers/<user_id>", methods=["GET", "POST"])
@owner_required
def edit_cashier(user_id: str):
    cashier = _cashier_or_404(user_id)
    if request.method == "POST":
        try:
            org.update_cashier(cashier, request.form.to_dict(), current_user)
        except Invalid as exc:
            return _cashier_page(cashier, request.form, exc.errors, 422)
        flash(_("Cashier %(name)s saved.", name=cashier.name), "success")
        return _cashiers_tab()
    return _cashier_page(cashier, _cashier_values(cashier), {})


@bp.post("/cashiers/<user_id>/active")
@owner_required
def set_active(user_id: str):
    cashier = _cashier_or_404(user_id)
    active = request.form.get("active") == "1"
    try:
        org.set_cashier_active(cashier, active, current_user)
    except Conflict as exc:
        return _cashier_page(cashier, _cashier_values(cashier), {"form": exc.message}, 409)
    flash(_("%(name)s can take payments again.", name=cashier.name) if active
          else _("%(name)s is deactivated and was signed out everywhere.", name=cashier.name), "success")
    return _cashiers_tab()


@bp.post("/cashiers/<user_id>/credentials")
@owner_required
def resend_credentials(user_id: str):
    cashier = _cashier_or_404(user_id)
    try:
        org.resend_credentials(cashier, current_user)
    except Conflict as exc:
        return _cashier_page(cashier, _cashier_values(cashier), {"form": exc.message}, 409)
    flash(_("A new password was sent by SMS to %(phone)s.", phone=cashier.phone), "success")
    return _cashiers_tab()
