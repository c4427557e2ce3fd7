"""Accept payment (M9): amount → dynamic QR, or card through MPOS (M9.2) → success, live over SSE with a
polling fallback."""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import live
from ...extensions import db
from ...htmx import wants_fragment
from ...models import Payment, utcnow
from ...security import get_scoped_or_404, make_public, merchant_user_required, passive
from ...services import ServiceError, accept, card, offline, refunds, shifts
from ...services.qr import qr_svg
from ..common import form_page, own_device, public_url

bp = Blueprint("pay", __name__, url_prefix="/pay")
# Where Chrome lands when MPOS is not installed (the intent's S.browser_fallback_url): help, no data.
make_public("pay.mpos_missing")


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
        return form_page("pay/new.html", exc.form_errors("amount"), exc.status, amount=amount)
    return redirect(url_for("pay.show", public_id=payment.public_id), 303)


@bp.post("/card")
@merchant_user_required
def create_card():
    """"Card": a pending card payment, then off to MPOS (bank-interface.md §5)."""
    amount = request.form.get("amount", "")
    try:
        payment = card.create_card_payment(current_user, amount, g.settings)
    except shifts.ShiftRequired:
        return render_template("shifts/required.html", next_url=url_for("pay.new", amount=amount)), 409
    except ServiceError as exc:
        return form_page("pay/new.html", exc.form_errors("amount"), exc.status, amount=amount)
    # MPOS comes back to the payment's own page; its query is a hint for wording, never its status.
    return_url = public_url("pay.show", public_id=payment.public_id)
    return redirect(card.mpos_url(payment, return_url, public_url("pay.mpos_missing"), g.settings), 303)


@bp.post("/reservations")
@merchant_user_required
def reservations():
    """This device's stock of payment ids for QR codes made offline, topped up (fetched by
    static/js/offline-qr.js while online; JSON, CSRF in the X-CSRFToken header like htmx's writes)."""
    key = offline.device_key(own_device(), g.get("user_session"))
    stock = offline.reserve(current_user, key, g.settings) if key else []
    response = jsonify(offline.device_data(current_user, stock, g.settings))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/offline")
@merchant_user_required
def upload_offline():
    """The phone's upload of a QR it made offline (sent by the offline queue once it is back online)."""
    amount = request.form.get("amount", "")
    try:
        payment = offline.upload(current_user, offline.device_key(own_device(), g.get("user_session")),
                                 request.form.get("reservation", ""), amount, request.form.get("made_at", ""),
                                 g.settings)
    except ServiceError as exc:
        return form_page("pay/new.html", exc.form_errors("amount"), exc.status, amount=amount)
    return redirect(url_for("pay.show", public_id=payment.public_id), 303)


@bp.get("/mpos-missing")
def mpos_missing():
    return render_template("pay/mpos_missing.html")


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
    payment_id, service = payment.id, card if payment.method == "card" else accept
    db.session.commit()  # nothing written yet: this ends the read transaction before the call
    try:
        found = service.ask_bank(public_id)
    except OSError:  # refused, timed out, or an HTTP error: the Bank did not answer
        flash(_("The bank did not answer. Please try again in a minute."), "error")
        return _after_action(get_scoped_or_404(Payment, public_id))
    return _after_action(service.apply_bank_answer(payment_id, found))


@bp.get("/<public_id>/events")
@passive
@merchant_user_required
def events(public_id: str):
    """Server-sent events: the payment's view each time it changes, then `done` once it is final."""
    payment = get_scoped_or_404(Payment, public_id)
    subscription = live.broker().subscribe(live.payment_channel(payment.public_id))
    return live.event_stream(subscription, lambda message: _live_update(public_id, opening=message is None))


def _live_update(public_id: str, opening: bool) -> live.Update:
    """The payment's view, then `done` once it is final. At the opening only a payment that finished
    before the stream opened is shown; a pending one is already on the page."""
    # Access was checked when the stream opened; a payment never changes merchant or cashier.
    payment = db.session.scalar(select(Payment).where(Payment.public_id == public_id))
    if opening and not payment.is_final:
        return [], False
    html = live.sse_message(render_template("pay/_view.html", **_view_context(payment, live=True)))
    return ([html, live.DONE], True) if payment.is_final else ([html], False)


def _view_context(payment: Payment, polling: bool = False, live: bool = False) -> dict:
    # What MPOS said on return: wording only (a forged "approved" shows "waiting for the bank" still).
    hint = request.args.get("mpos")
    context = {"payment": payment, "polling": polling, "link": None, "svg": None,
               "mpos_hint": hint if hint in card.MPOS_HINTS else None}
    if payment.status == "pending" and payment.method == "card":
        left = int((payment.expires_at - utcnow()).total_seconds()) if payment.expires_at else 0
        context.update(seconds_left=max(left, 0))
    elif payment.status == "pending":
        link = accept.payment_link(payment, g.settings)
        left = int((payment.expires_at - utcnow()).total_seconds()) if payment.expires_at else 0
        context.update(link=link, svg=qr_svg(link, payment.merchant.display_name), seconds_left=max(left, 0))
    elif payment.status == "succeeded":
        # The payer's receipt: they scan it off the cashier's screen, or are sent the link.
        receipt_url = public_url("receipts.show", token=payment.receipt_token)
        context.update(receipt_url=receipt_url, receipt_svg=qr_svg(receipt_url, _("Receipt QR code")))
        if not live:
            # Not in the live stream: it has let go of the request's session (and its signed-in user), and
            # a payment that has only just been paid has no refunds yet; a reload shows them and "Refund".
            done = refunds.refunds_of(payment)
            # "Refund" is offered only to whoever may refund it now, and while something is left.
            may_refund = refunds.refusal(current_user, payment) is None and refunds.refundable(payment) > 0
            context.update(refunds=done, refund_state=refunds.refund_state(payment, done), may_refund=may_refund)
    return context


def _render(payment: Payment, polling: bool = False):
    if wants_fragment():
        return render_template("pay/_view.html", **_view_context(payment, polling))
    return render_template("pay/show.html", **_view_context(payment))


def _after_action(payment: Payment):
    if wants_fragment():
        return _render(payment)
    return redirect(url_for("pay.show", public_id=payment.public_id), 303)
