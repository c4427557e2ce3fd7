"""The user's devices with a PIN and passkeys, and the owner's quick-lock time (M1.3, D1)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models.merchant import QUICK_LOCK_MAX_MINUTES, QUICK_LOCK_MIN_MINUTES
from ...security import owner_required
from ...services import Invalid, audit, devices, passkeys
from ..auth.quick import current_device
from . import bp


@bp.get("/devices", endpoint="devices")
def devices_page():
    return _devices_page({}, 200)


def _devices_page(errors: dict, status: int, minutes: str | None = None):
    merchant = current_user.merchant
    return render_template("account/devices.html", devices=devices.active_for(current_user),
                           passkeys=passkeys.active_for(current_user), this_device=current_device(),
                           errors=errors, minutes=minutes or (merchant.quick_lock_minutes if merchant else None),
                           minute_choices=range(QUICK_LOCK_MIN_MINUTES, QUICK_LOCK_MAX_MINUTES + 1)), status


@bp.post("/quick-lock")
@owner_required
def quick_lock():
    """The owner's choice: after how long in the background the app asks for the PIN again."""
    minutes = request.form.get("minutes", "")
    try:
        devices.set_quick_lock(current_user.merchant, minutes, current_user)
    except Invalid as exc:
        return _devices_page(exc.errors, 422, minutes)
    flash(_("Saved."), "success")
    return redirect(url_for("account.devices"))


@bp.post("/devices/<public_id>/revoke")
def device_revoke(public_id: str):
    device = devices.get_own(current_user, public_id) or abort(404)
    devices.revoke(device)
    audit.record(current_user, "auth.device_revoked", merchant_id=current_user.merchant_id, obj=device)
    flash(_("Quick access on that device is switched off."), "success")
    return redirect(url_for("account.devices"))


@bp.post("/passkeys/<public_id>/revoke")
def passkey_revoke(public_id: str):
    passkey = passkeys.get_own(current_user, public_id) or abort(404)
    passkeys.revoke(passkey)
    audit.record(current_user, "auth.passkey_revoked", merchant_id=current_user.merchant_id, obj=passkey)
    flash(_("The passkey was removed."), "success")
    return redirect(url_for("account.devices"))
