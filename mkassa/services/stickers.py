"""NFC stickers (issue #15 item 6): what a sticker the phone just read carries, in words.

The browser reads the sticker's URL record (static/js/nfc.js) and asks here: the ELQR codec decides
whether it is an MKASSA link at all (our bank-app address, a good checksum, our provider and
service), then whose it is. A point's or a payment's name is said only when it is the asker's own
(security.scoped, the same rule as every screen); of anyone else's link only what the link itself
carries is repeated (its amount), so a sticker check never tells a stranger's names or status.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from .. import elqr
from ..config import Settings
from ..extensions import db
from ..formatting import money
from ..models import Payment, Point, User
from ..models.payment import CURRENCY_KGS, PaymentStatus
from ..security import scoped

# A URL record longer than any link MKASSA writes is refused before it is parsed.
MAX_LINK_LENGTH = 1000


@dataclass(frozen=True)
class Sticker:
    mkassa: bool  # an MKASSA payment link
    own: bool  # ... to one of the asker's points or payments
    message: str


def describe(user: User, link: str, settings: Settings) -> Sticker:
    code = _mkassa_link(link, settings)
    if code is None:
        return Sticker(False, False, _("This sticker does not carry an MKASSA payment link."))
    if code.type == "static":
        point = db.session.scalar(scoped(Point, user=user).options(joinedload(Point.merchant))
                                  .where(Point.reference == code.transaction_id))
        if point is None:
            return Sticker(True, False, _("An MKASSA link of another merchant's point; the payer types the amount."))
        return Sticker(True, True, _("Point “%(point)s” of %(merchant)s; the payer types the amount.",
                                     point=point.name, merchant=point.merchant.display_name))
    payment = db.session.scalar(scoped(Payment, user=user).options(joinedload(Payment.point))
                                .where(Payment.public_id == code.transaction_id))
    if payment is None:
        return Sticker(True, False, _("An MKASSA payment of %(amount)s to another merchant.", amount=money(code.amount)))
    if payment.point is None:
        return Sticker(True, True, _("Payment of %(amount)s (%(status)s).", amount=money(payment.amount),
                                     status=PaymentStatus(payment.status).label))
    return Sticker(True, True, _("Payment of %(amount)s to point “%(point)s” (%(status)s).",
                                 amount=money(payment.amount), point=payment.point.name,
                                 status=PaymentStatus(payment.status).label))


def _mkassa_link(link: str, settings: Settings) -> elqr.Elqr | None:
    """The decoded link if MKASSA made it: the bank app's address, an intact checksum (a sticker
    someone rewrote by hand fails it), our provider and service, in som."""
    if len(link) > MAX_LINK_LENGTH or not link.startswith(settings.elqr_base_url + "#"):
        return None
    try:
        code = elqr.parse(link)
    except elqr.ElqrError:
        return None
    if not elqr.checksum_ok(link) or code.currency != CURRENCY_KGS or not code.transaction_id:
        return None
    if (code.provider_id, code.service_code) != (settings.elqr_provider_id, settings.elqr_service_code):
        return None
    return code
