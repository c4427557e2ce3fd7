"""Printable static QR per point (X8): payers scan it and type the amount themselves; and the NFC
sticker check (issue #15 item 6): what a sticker the phone read carries."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ...models import Point
from ...security import get_scoped_or_404, merchant_user_required
from ...services import stickers
from ...services.qr import qr_svg, static_link

bp = Blueprint("qrcodes", __name__)

PAPER_SIZES = ("a5", "a4")


@bp.get("/points/<point_public_id>/qr")
@merchant_user_required
def point_qr(point_public_id: str):
    # A cashier sees only the point they work at (scope.RULES). An archived point takes no new
    # stickers: payments to old ones still land on it (crediting).
    point = get_scoped_or_404(Point, point_public_id, Point.archived_at.is_(None))
    paper = request.args.get("paper", PAPER_SIZES[0])
    if paper not in PAPER_SIZES:
        paper = PAPER_SIZES[0]
    link = static_link(point.merchant, point, g.settings)
    svg = qr_svg(link, _("Payment QR code of %(point)s", point=point.name))
    return render_template("qrcodes/point.html", point=point, merchant=point.merchant, link=link, svg=svg,
                           paper=paper, paper_sizes=PAPER_SIZES)


@bp.post("/nfc/check")
@merchant_user_required
def check_sticker():
    """The link a sticker carries (static/js/nfc.js sends its URL record), said in words. A POST:
    the link is the payer's data, kept out of URLs and their logs."""
    sticker = stickers.describe(current_user, request.form.get("link", ""), g.settings)
    return jsonify(mkassa=sticker.mkassa, own=sticker.own, message=sticker.message)
