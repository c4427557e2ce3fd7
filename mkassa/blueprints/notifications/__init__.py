"""Notifications (D5): an owner turns payment pushes on or off for this browser."""
from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask_babel import ngettext
from flask_login import current_user

from ...security import owner_required
from ...services import Invalid
# Importing the service connects its payment → push receiver whenever the app is built.
from ...services import push

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def _devices_text(count: int) -> str:
    return ngettext("Notifications are on for %(num)d device.", "Notifications are on for %(num)d devices.", count)


@bp.get("")
@owner_required
def index():
    return render_template("notifications/index.html", vapid_key=push.application_server_key(g.settings.instance_path),
                           devices_text=_devices_text(push.count_for(current_user)))


@bp.post("/subscribe")
@owner_required
def subscribe():
    """JSON from push.js: the browser's PushSubscription.toJSON(). Repeating it is harmless."""
    try:
        push.subscribe(current_user, request.get_json(silent=True))
    except Invalid as error:
        return {"errors": error.errors}, 422
    return _state(True)


@bp.post("/unsubscribe")
@owner_required
def unsubscribe():
    """JSON {endpoint}. Unknown endpoints are fine: the browser may have dropped it first."""
    data = request.get_json(silent=True)
    push.unsubscribe(current_user, data.get("endpoint") if isinstance(data, dict) else None)
    return _state(False)


def _state(subscribed: bool) -> dict:
    count = push.count_for(current_user)
    return {"subscribed": subscribed, "devices": count, "devices_text": _devices_text(count)}
