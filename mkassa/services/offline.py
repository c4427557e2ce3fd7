"""QR payments while the phone is offline (issue #16, item 6).

While online, each device holds a small stock of reserved payment ids (`reserve`), bound to the device,
the point and the user. Offline, the phone builds the dynamic ELQR link itself with one of them
(static/js/elqr.js), shows it, and queues an upload (`upload`) of the id, the amount and the time.

The payer's bank pays as usual and the Bank tells the server, which is online: `record_bank_payment`
records the payment for a reserved id before the phone has said anything (money has moved: it is
never refused), with the Bank's amount. Whichever of the two comes second is matched to the first
under the reservation's row lock: one payment per id, credited once, counted once. An amount the phone
showed that differs from the Bank's is kept (`Payment.offline_amount`) and flags the payment for the
bank console. An upload the Bank never pays is a pending payment that expires like any other.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..config import Settings
from ..extensions import db
from ..formatting import money, read_amount
from ..models import Device, Payment, PaymentReservation, User, UserSession, utcnow
from ..models.payment import CURRENCY_KGS
from ..money import MoneyError
from ..security import scoped
from . import Conflict, Invalid, ServiceError, shifts
from .accept import Success, announce, confirm_success
from .qr import static_link

# How many ids a device holds, and how long each may be put into a QR. A day covers an outage of a
# working day; twenty covers the sales of a small shop in it, and each unused one costs one row.
RESERVE_STOCK = 20
RESERVATION_LIFETIME = timedelta(hours=24)
# A phone's clock may run a little ahead of the server's: an upload's time is believed this far ahead.
CLOCK_SKEW = timedelta(minutes=5)
# The device keys (models.offline.PaymentReservation.device_key).
DEVICE_PREFIX, SESSION_PREFIX = "device:", "session:"


class Refused(ServiceError):
    """An upload for an id that is not this device's and user's, or that had expired: nothing changes."""

    status = 404


def device_key(device: Device | None, session: UserSession | None) -> str | None:
    """The device the ids are bound to: the quick-access device, else the sign-in session."""
    if device is not None:
        return f"{DEVICE_PREFIX}{device.public_id}"
    if session is not None:
        return f"{SESSION_PREFIX}{session.id}"
    return None


def reserve(user: User, key: str, settings: Settings, now: datetime | None = None) -> list[PaymentReservation]:
    """The device's stock of unused ids on the user's point, topped up to RESERVE_STOCK.

    Only ids still valid for at least half their life are counted, so a phone that goes offline
    right after a refresh holds a full day's stock.
    """
    now = now or utcnow()
    stock = list(db.session.scalars(
        _stock(user, key).where(PaymentReservation.expires_at > now + RESERVATION_LIFETIME / 2)
        .order_by(PaymentReservation.expires_at, PaymentReservation.id)))
    for _missing in range(RESERVE_STOCK - len(stock)):
        reservation = PaymentReservation(merchant_id=user.merchant_id, point_id=user.point_id, user_id=user.id,
                                         device_key=key, created_at=now, expires_at=now + RESERVATION_LIFETIME)
        db.session.add(reservation)
        stock.append(reservation)
    db.session.flush()
    return stock


def _stock(user: User, key: str):
    return scoped(PaymentReservation, user=user).where(
        PaymentReservation.device_key == key, (PaymentReservation.point_id.is_(None) if user.point_id is None
                                              else PaymentReservation.point_id == user.point_id),
        PaymentReservation.payment_id.is_(None), PaymentReservation.uploaded_at.is_(None))


def device_data(user: User, stock: list[PaymentReservation], settings: Settings) -> dict[str, Any]:
    """What the phone keeps for offline use: the ids, the merchant's QR fields, the point's static link."""
    merchant, point = user.merchant, user.point
    return {
        "owner": user.public_id,
        "ids": [{"id": r.public_id, "expires_at": r.expires_at.isoformat()} for r in stock],
        "qr": {"base_url": settings.elqr_base_url, "provider_id": settings.elqr_provider_id,
               "service_code": settings.elqr_service_code, "recipient_id": merchant.account_number,
               "mcc": merchant.mcc, "currency": CURRENCY_KGS, "name": merchant.display_name},
        "max_amount": settings.max_payment_tyiyn,
        "lifetime_seconds": settings.payment_lifetime_seconds,
        "static": ({"link": static_link(merchant, point, settings), "point": point.name}
                   if point is not None and point.reference else None),
    }


def _lock(public_id: str, *where) -> PaymentReservation | None:
    return db.session.scalar(select(PaymentReservation).where(PaymentReservation.public_id == public_id, *where)
                             .with_for_update().execution_options(populate_existing=True))


def _locked_payment(reservation: PaymentReservation) -> Payment:
    """The payment already made for a reservation, under its row lock, as the database has it."""
    return db.session.scalar(select(Payment).where(Payment.id == reservation.payment_id).with_for_update()
                             .execution_options(populate_existing=True))


# ------------------------------------------------------------------------------------ the Bank first


def record_bank_payment(public_id: str, success: Success) -> tuple[Payment | None, bool]:
    """The Bank paid a QR carrying a reserved id: its payment, and whether it was recorded just now.

    (None, False) when no id was reserved under that name (the caller refuses the notice). A payment
    there already (the phone's upload came first, or a racing delivery) is returned as it is, under its
    row lock, for the caller's usual checks.
    """
    reservation = _lock(public_id)
    if reservation is None:
        return None, False
    if reservation.payment_id is not None:
        return _locked_payment(reservation), False
    payment = _new_payment(reservation, success.amount, created_at=success.paid_at, lifetime=None)
    confirm_success(payment, success)
    return payment, True


def _new_payment(reservation: PaymentReservation, amount: int, created_at: datetime,
                 lifetime: timedelta | None) -> Payment:
    shift = shifts.open_shift_of(reservation.user)
    payment = Payment(public_id=reservation.public_id, merchant_id=reservation.merchant_id,
                      point_id=reservation.point_id, cashier_id=reservation.user_id, method="qr",
                      link_type="dynamic", amount=amount, currency=CURRENCY_KGS, status="pending",
                      created_at=created_at, expires_at=created_at + lifetime if lifetime else None,
                      shift_id=shift.id if shift else None)
    db.session.add(payment)
    db.session.flush()
    reservation.payment_id = payment.id
    return payment


def accept_bank_amount(payment: Payment, amount: int) -> None:
    """An offline QR the Bank paid with another amount than the phone showed: the Bank's amount counts
    (money has moved), and the payment is flagged for the bank console."""
    payment.amount = amount
    payment.flagged = True


# ------------------------------------------------------------------------------------ the phone's upload


def upload(user: User, key: str | None, public_id: str, amount_text: str, made_at_text: str, settings: Settings,
           now: datetime | None = None) -> Payment:
    """The phone's word on a QR it made offline: matched to the Bank's payment, or a pending payment.

    Refused, with nothing changed: an id not reserved for this user (or for another quick-access
    device), an id used already, and a QR made after its id expired.
    """
    now = now or utcnow()
    try:
        amount = read_amount(amount_text, maximum=settings.max_payment_tyiyn)
    except MoneyError as exc:
        raise Invalid({"amount": _(str(exc), **{k: money(v) for k, v in exc.params.items()})}) from None
    try:
        made_at = datetime.fromisoformat(made_at_text)
    except (TypeError, ValueError):
        made_at = None
    if made_at is None or made_at.tzinfo is None:
        raise Invalid({"form": _("The time of this offline QR could not be read.")})
    reservation = db.session.scalar(
        scoped(PaymentReservation, user=user).where(PaymentReservation.public_id == public_id)
        .with_for_update().execution_options(populate_existing=True))
    if reservation is None or (reservation.device_key.startswith(DEVICE_PREFIX) and key != reservation.device_key):
        raise Refused(_("This offline QR was not made on this phone by you."))
    if not reservation.created_at - CLOCK_SKEW <= made_at <= min(reservation.expires_at, now + CLOCK_SKEW):
        raise Refused(_("This offline QR was made after its reserved payment number expired."))
    if reservation.uploaded_at is not None:
        raise Conflict(_("This offline QR has already been recorded."))
    if reservation.payment_id is not None:  # the Bank's notice came first
        payment = _locked_payment(reservation)
        if payment.amount != amount:
            payment.flagged = True
    else:
        payment = _new_payment(reservation, amount, created_at=made_at,
                               lifetime=timedelta(seconds=settings.payment_lifetime_seconds))
    payment.offline_amount = amount
    reservation.uploaded_at, reservation.uploaded_amount = now, amount
    announce(payment)
    return payment
