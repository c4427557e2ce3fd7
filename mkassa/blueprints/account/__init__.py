"""Account status (M5.7): requisites, balances, and a statement for chosen dates (screen + Excel)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from ...htmx import wants_fragment
from ...models import utcnow
from ...security import owner_required
from ...services import Conflict, Invalid, export, ledger, statement
from ..common import send_xlsx

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@owner_required
def index():
    merchant = current_user.merchant
    template = "account/_statement.html" if wants_fragment() else "account/index.html"
    context = dict(merchant=merchant, balances=ledger.balances(merchant.id), args=request.args)
    try:
        first, last = statement.parse_dates(request.args)
    except Invalid as exc:
        return render_template(template, st=None, errors=exc.errors, **context), 422
    st = statement.statement(merchant.id, first, last)
    recent = list(statement.iter_entries(merchant.id, first, last, "available", newest_first=True,
                                         limit=statement.SCREEN_ROWS))
    return render_template(template, st=st, recent=recent, errors={}, **context)


@bp.post("/statement")
@owner_required
def download():
    """The detailed statement as .xlsx: at once when small, else as a background job."""
    merchant = current_user.merchant
    try:
        first, last = statement.parse_dates(request.form)
    except Invalid:
        abort(400)
    total = statement.count_entries(merchant.id, first, last)
    if total > export.INLINE_MAX_ROWS:
        try:
            job = export.start_job(current_user, "statement",
                                   {"from": first.isoformat(), "to": last.isoformat()}, total,
                                   str(get_locale() or "ru"))
        except Conflict as exc:
            abort(409, description=exc.message)
        return redirect(url_for("reports.export_job", public_id=job.public_id), code=303)
    st = statement.statement(merchant.id, first, last)
    return send_xlsx(lambda out: export.write_statement(
        out, merchant, st, lambda account: statement.iter_entries(merchant.id, first, last, account), utcnow()),
        export.file_name("statement", first, last))


# The devices & passkeys and send-password views register on this blueprint.
from . import devices, password  # noqa: E402,F401
