"""Home screen (M4): today's total and the payment history."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from ... import live
from ...extensions import db
from ...htmx import wants_fragment
from ...models import Payment, Refund
from ...security import merchant_user_required, passive, run_prepared, scoped
from ...services import keyset
from ...services.queries import (HISTORY_KEYS, HISTORY_PAGE_SIZE, day_total, history_page, history_rows,
                                 today_params, today_statement, today_total)
from ...formatting import local_dt

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if current_user.is_admin:
        return redirect(url_for("admin.index"))
    return _home()


@merchant_user_required
def _home():
    # The same statements as history_page and today_total, built once (security.prepared).
    rows = run_prepared(("home.rows",), lambda: keyset.first_page(history_rows(scoped(Payment)), HISTORY_KEYS,
                                                                  HISTORY_PAGE_SIZE), {}).all()
    page = keyset.result(rows, HISTORY_KEYS, HISTORY_PAGE_SIZE)
    total = run_prepared(("home.total",), lambda: today_statement(scoped(Payment), scoped(Refund)), today_params()).one()
    return render_template("home/index.html", total=day_total(total), rows=page.rows, next_cursor=page.next_cursor)


@bp.get("/history")
@merchant_user_required
def history():
    """More history rows (infinite scroll); a full page without JavaScript."""
    page = history_page(scoped(Payment), request.args.get("before"))
    template = "home/_rows.html" if wants_fragment() else "home/history.html"
    return render_template(template, rows=page.rows, next_cursor=page.next_cursor,
                           prev_day=local_dt(page.position[0], "d MMMM") if page.position else None)


@bp.get("/events")
@passive
@merchant_user_required
def events():
    """Server-sent events for the home screen: a row and today's figures whenever a payment changes."""
    subscription = live.broker().subscribe(live.merchant_channel(current_user.merchant_id))
    return live.event_stream(subscription, _live_update)


def _live_update(public_id: str | None) -> live.Update:
    if public_id is None:
        return [], False  # nothing to show when the stream opens: the page was just rendered
    # Scoped like every read: a cashier's screen never learns of another cashier's sale.
    payment = db.session.execute(history_rows(scoped(Payment)).where(Payment.public_id == public_id)).first()
    if payment is None:
        return [], False
    return [live.sse_message(render_template("home/_live.html", payment=payment,
                                             total=today_total(scoped(Payment), scoped_refunds=scoped(Refund))))], False
