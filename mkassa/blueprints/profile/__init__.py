"""Profile (M5): organisation, login, account details, sub-sections, language, sign-out."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from ...security import merchant_user_required

bp = Blueprint("profile", __name__, url_prefix="/profile")


@bp.get("/")
@merchant_user_required
def index():
    return render_template("profile/index.html", merchant=current_user.merchant)
