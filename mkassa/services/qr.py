"""Payment QR codes: the ELQR links MKASSA shows and prints, and their SVG pictures."""
from __future__ import annotations

from markupsafe import Markup

from .. import elqr
from ..config import Settings
from ..models import Merchant, Point
from ..models.payment import CURRENCY_KGS


def static_link(merchant: Merchant, point: Point, settings: Settings) -> str:
    """The printed, reusable QR of a point (specs/elqr.md): the payer types the amount (no 54).

    32/11 carries the point's reference, so the Bank's notice of each payment names the point it
    lands on; 32/13=12 keeps a bank app from letting the payer change the recipient account.
    """
    return elqr.build(elqr.Elqr(
        type="static", provider_id=settings.elqr_provider_id, service_code=settings.elqr_service_code,
        recipient_id=merchant.account_number, transaction_id=point.reference, recipient_editable=False,
        mcc=merchant.mcc, currency=CURRENCY_KGS, name=merchant.display_name), settings.elqr_base_url)


def qr_svg(link: str, title: str) -> Markup:
    """The link as an inline SVG QR code that scales to its box (no fixed size: CSS sets it).

    Error correction at least M (segno raises it when the data leaves room): a printed code gets
    scuffed and photographed at an angle.
    """
    import segno  # on first use: its writers weigh megabytes a worker or export process never needs
    code = segno.make_qr(link, error="m")
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, title=title, svgclass="qr-svg",
                                  lineclass="qr-dark"))


def qr_svg_document(link: str) -> bytes:
    """The link as a standalone SVG file (the partner API's QR picture), 8 px modules."""
    import io

    import segno  # on first use, as in qr_svg
    out = io.BytesIO()
    segno.make_qr(link, error="m").save(out, kind="svg", scale=8, border=4)
    return out.getvalue()
