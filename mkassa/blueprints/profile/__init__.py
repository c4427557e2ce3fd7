"""Profile (M5): organisation, login, account details, sub-sections, language, sign-out."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ... import idempotency
from ...models import ApiCallback, ApiKey
from ...security import get_scoped_or_404, merchant_user_required, owner_required, scoped
from ...services import Invalid
from ...services import callbacks, org, partner_api
from ..common import own_device

bp = Blueprint("profile", __name__, url_prefix="/profile")

# The sub-sections list (M5.3): (endpoint, label, roles). A row shows once its endpoint exists, so
# an area's screen appears here as soon as its blueprint is registered.
SECTIONS = [
    ("profile.point", _l("Choose point of sale"), ("owner",)),
    ("shifts.settings", _l("Work in shifts"), ("owner",)),
    ("shifts.email", _l("E-mail"), ("owner",)),
    ("reports.index", _l("Reports"), ("owner",)),
    ("reports.index", _l("My reports"), ("cashier",)),
    ("account.index", _l("Account status"), ("owner",)),
    ("account.send_password", _l("Send password"), ("owner", "cashier")),
    ("account.devices", _l("Devices & passkeys"), ("owner", "cashier")),
    # Payment pushes go to owners only (services/push.py), so only owners get the screen.
    ("notifications.index", _l("Notifications"), ("owner",)),
    # The partner API's keys and callbacks (#18): the merchant's own systems, so the owner's.
    ("profile.api_keys", _l("API keys"), ("owner",)),
]
# Callbacks listed under the keys: the latest ones, with every attempt.
RECENT_CALLBACKS = 20


def operator_link(merchant_name: str, login: str, number: str) -> str:
    """A WhatsApp chat with the Bank's contact centre (M5.9), the first message already typed."""
    digits = "".join(c for c in number if c.isdigit())
    text = _("Hello! I am writing from MKASSA. Organisation: %(org)s, login: %(login)s.",
             org=merchant_name, login=login)
    return f"https://wa.me/{digits}?text={quote(text)}"


@bp.get("/")
@merchant_user_required
def index():
    merchant = current_user.merchant
    sections = [(endpoint, label) for endpoint, label, roles in SECTIONS if current_user.role in roles]
    return render_template("profile/index.html", merchant=merchant, sections=sections,
                           quick_access_here=own_device() is not None,
                           operator_url=operator_link(merchant.legal_name, current_user.login,
                                                      g.settings.operator_whatsapp))


@bp.route("/point", methods=["GET", "POST"])
@owner_required
def point():
    """The point an owner's own payments count to (M5.4)."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            chosen = org.choose_own_point(current_user, request.form.get("point", ""))
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(_("Your payments now count to %(name)s.", name=chosen.name), "success")
            return redirect(url_for("profile.index"))
    return render_template("profile/point.html", points=org.live_points(current_user.merchant_id),
                           errors=errors), (422 if errors else 200)


def _api_keys_page(errors: dict[str, str] | None = None, new=None, status: int = 200, name: str = ""):
    return render_template("profile/api_keys.html", keys=partner_api.owner_keys(current_user),
                           points=org.live_points(current_user.merchant_id), errors=errors or {}, new=new,
                           name=name, callbacks=callbacks.recent(scoped(ApiCallback), RECENT_CALLBACKS),
                           max_keys=partner_api.MAX_KEYS_PER_MERCHANT), status


@bp.get("/api-keys")
@owner_required
def api_keys():
    return _api_keys_page()


@bp.post("/api-keys")
@owner_required
def create_api_key():
    name = request.form.get("name", "")
    try:
        new = partner_api.create_key(current_user, name, request.form.get("point") or None, g.settings)
    except Invalid as exc:
        return _api_keys_page(exc.errors, status=422, name=name)
    # The secrets are in this answer only: a retry of the same form gets the list, never them again.
    idempotency.store_instead(redirect(url_for("profile.api_keys"), 303))
    return _api_keys_page(new=new, status=201)


@bp.post("/api-keys/<key_id>/revoke")
@owner_required
def revoke_api_key(key_id: str):
    key = get_scoped_or_404(ApiKey, key_id)
    partner_api.revoke_key(current_user, key)
    flash(_("The key %(name)s is revoked: it no longer works.", name=key.name), "success")
    return redirect(url_for("profile.api_keys"), 303)
