"""Accept payment (M9): amount → dynamic QR → success, live over SSE with a polling fallback."""
from __future__ import annotations

from time import monotonic

from flask import (Blueprint, Response, flash, g, redirect, render_template, request, stream_with_context,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import live
from ...extensions import db
from ...models import Payment, utcnow
from ...security import get_scoped_or_404, merchant_user_required, passive, reauth_url, session_ended
from ...services import ServiceError, accept, shifts
from ...services.qr import qr_svg

bp = Blueprint("pay", __name__, url_prefix="/pay")

# An SSE stream ends after this long and the browser reconnects: no request lives forever, and a
# reconnect re-checks the user's access.
STREAM_SECONDS = 55
# A comment line this often keeps proxies from closing an idle stream and finds dead clients.
HEARTBEAT_SECONDS = 15
# The event a stream sends before it closes because the user's session ended (see live.js).
SESSION_ENDED_EVENT = "session-ended"


@bp.get("/")
@merchant_user_required
def new():
    if shifts.needs_shift(current_user):
        return render_template("shifts/required.html", next_url=request.full_path)
    return render_template("pay/new.html", amount=request.args.get("amount", ""), errors={})


@bp.post("/")
@merchant_user_required
def create():
    amount = request.form.get("amount", "")
    try:
        payment = accept.create_qr_payment(current_user, amount, g.settings)
    except shifts.ShiftRequired:  # a prompt with an "Open shift" button, not an error
        return render_template("shifts/required.html", next_url=url_for("pay.new", amount=amount)), 409
    except ServiceError as exc:
        errors = getattr(exc, "errors", {"amount": exc.message})
        return render_template("pay/new.html", amount=amount, errors=errors), exc.status
    return redirect(url_for("pay.show", public_id=payment.public_id), 303)


@bp.get("/<public_id>")
@merchant_user_required
def show(public_id: str):
    payment = get_scoped_or_404(Payment, public_id)
    return render_template("pay/show.html", **_view_context(payment))


@bp.get("/<public_id>/status")
@merchant_user_required
def status(public_id: str):
    """The payment's current view, from the database: what polling (and a reload) shows."""
    payment = get_scoped_or_404(Payment, public_id)
    return _render(payment, polling=request.args.get("poll") == "1")


@bp.post("/<public_id>/cancel")
@merchant_user_required
def cancel(public_id: str):
    payment = get_scoped_or_404(Payment, public_id)
    try:
        accept.cancel(payment)
    except ServiceError:
        pass  # already finished: the view below shows how
    return _after_action(payment)


@bp.post("/<public_id>/check")
@merchant_user_required
def check(public_id: str):
    """"Check status": ask the Bank now, as the reconciliation job would.

    The Bank is asked with no transaction open (a slow Bank must not hold the write lock, nor keep a
    webhook for this payment waiting), then its answer is applied under the payment's row lock.
    """
    payment = get_scoped_or_404(Payment, public_id)
    if payment.status != "pending":
        return _after_action(payment)
    payment_id = payment.id
    db.session.commit()  # nothing written yet: this ends the read transaction before the call
    try:
        found = accept.ask_bank(public_id)
    except OSError:  # refused, timed out, or an HTTP error: the Bank did not answer
        flash(_("The bank did not answer. Please try again in a minute."), "error")
        return _after_action(get_scoped_or_404(Payment, public_id))
    return _after_action(accept.apply_bank_answer(payment_id, found))


@bp.get("/<public_id>/events")
@passive
@merchant_user_required
def events(public_id: str):
    """Server-sent events: the payment's view each time it changes, then `done` once it is final."""
    payment = get_scoped_or_404(Payment, public_id)
    subscription = live.broker().subscribe(live.payment_channel(payment.public_id))
    # Never hold a session while waiting: on SQLite an open transaction is the write lock.
    db.session.remove()
    return Response(stream_with_context(_stream(public_id, subscription)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _stream(public_id: str, subscription):
    deadline = monotonic() + STREAM_SECONDS
    try:
        # The page shows the pending view already: only a payment that finished meanwhile is sent.
        # (Every screen reopens its stream each STREAM_SECONDS; rendering the QR each time cost a
        # node of 1000 open screens most of its CPU, bench_scaleout.)
        html, final = _current_view(public_id, pending_too=False)
        if final:  # finished before the stream opened: show it and stop
            yield sse_message(html) + "event: done\ndata:\n\n"
            return
        yield ": open\n\n"
        while (left := deadline - monotonic()) > 0:
            changed = subscription.get(timeout=min(HEARTBEAT_SECONDS, left)) is not None
            # Checked at every wake-up: a screen whose session ended shows nothing more.
            if ended := session_ended_event():
                yield ended
                return
            if not changed:
                yield ": ping\n\n"
                continue
            html, final = _current_view(public_id)
            yield sse_message(html)
            if final:
                yield "event: done\ndata:\n\n"
                return
    finally:
        subscription.close()
        db.session.remove()


def _current_view(public_id: str, pending_too: bool = True) -> tuple[str, bool]:
    """The payment's view and whether it is final; without `pending_too`, a pending payment's view
    is not rendered ("")."""
    # Access was checked when the stream opened; a payment never changes merchant or cashier.
    payment = db.session.scalar(select(Payment).where(Payment.public_id == public_id))
    final = payment.is_final
    html = render_template("pay/_view.html", **_view_context(payment)) if final or pending_too else ""
    db.session.remove()
    return html, final


def sse_message(html: str) -> str:
    return "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"


def session_ended_event() -> str | None:
    """`session-ended` with where to go (the lock or sign-in screen, then back to the page), once the
    session behind a stream has ended; None while it lives. A live screen must not go stale silently:
    static/js/live.js follows the event (#11)."""
    ended = session_ended()
    target = reauth_url() if ended else None
    db.session.remove()
    return f"event: {SESSION_ENDED_EVENT}\ndata: {target}\n\n" if ended else None


def _view_context(payment: Payment, polling: bool = False) -> dict:
    context = {"payment": payment, "polling": polling, "link": None, "svg": None}
    if payment.status == "pending":
        link = accept.payment_link(payment, g.settings)
        left = int((payment.expires_at - utcnow()).total_seconds()) if payment.expires_at else 0
        context.update(link=link, svg=qr_svg(link, payment.merchant.display_name), seconds_left=max(left, 0))
    return context


def _render(payment: Payment, polling: bool = False):
    if request.headers.get("HX-Request"):
        return render_template("pay/_view.html", **_view_context(payment, polling))
    return render_template("pay/show.html", **_view_context(payment))


def _after_action(payment: Payment):
    if request.headers.get("HX-Request"):
        return _render(payment)
    return redirect(url_for("pay.show", public_id=payment.public_id), 303)
