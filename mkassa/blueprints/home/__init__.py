"""Home screen (M4): today's total and the payment history."""
from __future__ import annotations

from time import monotonic

from flask import Blueprint, Response, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from ... import live
from ...extensions import db
from ...models import Payment
from ...security import merchant_user_required, passive, scoped
from ...services.queries import encode_cursor, history_page, today_total
from ...formatting import local_dt
from ..common import cursor_arg
from ..pay import HEARTBEAT_SECONDS, STREAM_SECONDS, session_ended_event, sse_message

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if current_user.is_admin:
        return redirect(url_for("admin.index"))
    return _home()


@merchant_user_required
def _home():
    rows, cursor = history_page(_payments())
    return render_template("home/index.html", total=today_total(scoped(Payment)), rows=rows,
                           next_cursor=encode_cursor(cursor))


def _payments():
    return scoped(Payment).options(joinedload(Payment.cashier), joinedload(Payment.point))


@bp.get("/history")
@merchant_user_required
def history():
    """More history rows (infinite scroll); a full page without JavaScript."""
    before = cursor_arg()
    rows, cursor = history_page(_payments(), before)
    template = "home/_rows.html" if request.headers.get("HX-Request") else "home/history.html"
    return render_template(template, rows=rows, next_cursor=encode_cursor(cursor),
                           prev_day=local_dt(before[0], "d MMMM") if before else None)


@bp.get("/events")
@passive
@merchant_user_required
def events():
    """Server-sent events for the home screen: a row and today's figures whenever a payment changes."""
    subscription = live.broker().subscribe(live.merchant_channel(current_user.merchant_id))
    # Never hold a session while waiting: on SQLite an open transaction is the write lock.
    db.session.remove()
    return Response(stream_with_context(_stream(subscription)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _stream(subscription):
    deadline = monotonic() + STREAM_SECONDS
    try:
        yield ": open\n\n"
        while (left := deadline - monotonic()) > 0:
            public_id = subscription.get(timeout=min(HEARTBEAT_SECONDS, left))
            # Checked at every wake-up: a screen whose session ended shows nothing more.
            if ended := session_ended_event():
                yield ended
                return
            if public_id is None:
                yield ": ping\n\n"
                continue
            # Scoped like every read: a cashier's screen never learns of another cashier's sale.
            payment = db.session.scalar(_payments().where(Payment.public_id == public_id))
            if payment is not None:
                html = render_template("home/_live.html", payment=payment, total=today_total(scoped(Payment)))
                yield sse_message(html)
            db.session.remove()
    finally:
        subscription.close()
        db.session.remove()
