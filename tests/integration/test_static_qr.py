"""Static QR per point (X8): the printable page, the ELQR link it carries, and who may see it."""
from __future__ import annotations

import hashlib
import html
import re
from datetime import date
from urllib.parse import quote

import pytest
import zxingcpp
from PIL import Image

from mkassa import elqr
from mkassa.extensions import db
from mkassa.models import Merchant, Point, User, utcnow
from mkassa.services.auth import hash_password


def qr_page(client, point, **params):
    return client.get(f"/points/{point.public_id}/qr", query_string=params)


def page_link(body: str) -> str:
    match = re.search(r'data-testid="static-qr" data-link="([^"]+)"', body)
    assert match, "the page carries no link"
    return html.unescape(match.group(1))


def svg_to_image(svg: str) -> Image.Image:
    """Rasterise segno's one-path SVG (M/m moves, h runs of dark modules), 8 px a module."""
    width = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    path = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)
    image = Image.new("L", (width, width), 255)
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([-0-9. ]+)", path):
        values = [float(n) for n in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            end = values[0] if command == "H" else x + values[0]
            for column in range(int(x), int(end)):
                image.putpixel((column, int(y)), 0)
            x = end
    return image.resize((width * 8, width * 8), Image.NEAREST)


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


@pytest.fixture
def other_merchant(app):
    """A second merchant with an owner and a point: nothing of it is the demo owner's business."""
    merchant = Merchant(legal_name="ОсОО Другой", display_name="Other", inn="01234567890123", mcc="5812",
                        account_number="1030120000099999", bank_name="Bank", bank_bic="103001",
                        account_opened_on=date(2024, 1, 1))
    db.session.add(merchant)
    db.session.flush()
    point = Point(merchant_id=merchant.id, name="Other point", address="Ош")
    owner = User(merchant_id=merchant.id, role="owner", login="other", name="Other Owner",
                 password_hash=hash_password("demo1234"))
    db.session.add_all([point, owner])
    db.session.commit()
    return type("Other", (), {"merchant": merchant, "point": point, "owner": owner})


def test_owner_gets_a_printable_static_elqr_of_the_point(app, client, auth, demo):
    point = demo.points[1]
    point.reference = "PT-OSH-0001"
    db.session.commit()
    auth.login("demo")

    response = qr_page(client, point)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    link = page_link(body)
    settings = app.extensions["mkassa.settings"]
    assert elqr.checksum_ok(link)
    parsed = elqr.parse(link)
    assert parsed.type == "static"
    assert (parsed.provider_id, parsed.service_code) == (settings.elqr_provider_id, settings.elqr_service_code)
    assert parsed.recipient_id == demo.merchant.account_number
    assert parsed.transaction_id == "PT-OSH-0001"
    assert parsed.recipient_editable is False
    assert parsed.amount is None and parsed.amount_editable is None  # the payer types the amount
    assert (parsed.mcc, parsed.currency, parsed.name) == (demo.merchant.mcc, "417", "Demo Shop")
    # The exact link, written here element by element from specs/elqr.md: no 54, no 32/12.
    template = (tlv("00", settings.elqr_provider_id) + tlv("01", settings.elqr_service_code)
                + tlv("10", demo.merchant.account_number) + tlv("11", "PT-OSH-0001") + tlv("13", "12"))
    payload = (tlv("00", "01") + tlv("01", "11") + tlv("32", template) + tlv("52", demo.merchant.mcc)
               + tlv("53", "417") + tlv("59", "Demo Shop"))
    payload += tlv("63", hashlib.sha256(payload.encode()).hexdigest()[-4:].upper())
    assert link == settings.elqr_base_url + "#" + quote(payload, safe="")
    # What gets printed: the code itself (decoded like a bank app's camera would), payee, point.
    svg = re.search(r'<div class="qr-sheet-code"[^>]*>(.*?)</div>', body, re.S).group(1)
    assert svg.startswith("<svg") and 'class="qr-svg"' in svg
    assert zxingcpp.read_barcode(svg_to_image(svg)).text == link
    assert "Demo Shop" in body and point.name in body and html.escape(point.address) in body
    assert "Scan with any Kyrgyz bank app" in body
    assert re.search(r'href="/static/css/qr-sheet\.[0-9a-f]+\.css"', body)  # hashed name (mkassa/assets.py)


def test_link_stays_the_same_on_every_visit(client, auth, demo):
    """A printed sticker must keep working: the page never changes the link for a point."""
    auth.login("demo")
    first, second = (page_link(qr_page(client, demo.points[0]).get_data(as_text=True)) for _ in range(2))
    assert first == second
    assert first != page_link(qr_page(client, demo.points[1]).get_data(as_text=True))


@pytest.mark.parametrize(("asked", "shown"), [("a4", "a4"), ("a5", "a5"), (None, "a5"), ("letter", "a5")])
def test_paper_size_choice(client, auth, demo, asked, shown):
    auth.login("demo")
    params = {"paper": asked} if asked else {}
    body = qr_page(client, demo.points[0], **params).get_data(as_text=True)
    assert f'data-paper="{shown}"' in body and f"qr-sheet-{shown}" in body


def test_cashier_sees_only_the_qr_of_their_own_point(client, auth, demo):
    auth.login("cashier")  # works at points[0]
    assert qr_page(client, demo.points[0]).status_code == 200
    assert qr_page(client, demo.points[1]).status_code == 404


def test_foreign_point_is_not_found(client, auth, demo, other_merchant):
    auth.login("demo")
    assert qr_page(client, other_merchant.point).status_code == 404
    auth.logout()
    auth.login("other")
    assert qr_page(client, demo.points[0]).status_code == 404
    assert qr_page(client, other_merchant.point).status_code == 200


def test_unknown_and_archived_points_are_not_found(client, auth, demo):
    demo.points[1].archived_at = utcnow()
    db.session.commit()
    auth.login("demo")
    assert client.get("/points/01HZZZZZZZZZZZZZZZZZZZZZZZ/qr").status_code == 404
    assert qr_page(client, demo.points[1]).status_code == 404


def test_bank_staff_and_anonymous_get_no_merchant_qr(client, auth, demo, admin_user):
    anonymous = qr_page(client, demo.points[0])
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    auth.login("operator", "operator-pass-1")
    assert qr_page(client, demo.points[0]).status_code == 403


def test_the_points_screen_links_to_its_printable_qr_and_back(client, auth, demo):
    """The sheet was reachable only by typing /points/<id>/qr (#11)."""
    auth.login("demo")
    point = demo.points[0]
    body = client.get(f"/org/points/{point.public_id}").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)"[^>]*data-testid="point-qr-link"', body)
    assert link and link.group(1) == f"/points/{point.public_id}/qr"
    sheet = client.get(link.group(1)).get_data(as_text=True)
    assert re.search(rf'<a href="/org/points/{point.public_id}" data-testid="qr-back">', sheet)
