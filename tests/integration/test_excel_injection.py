"""Excel formula injection (#12.6): text people typed or the Bank sent is text in every workbook."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Merchant, Payment, Point, Shift, User, utcnow
from mkassa.services import export, jobs, shift_report, shifts

POINT = '=HYPERLINK("http://evil.example/x","Total")'
CASHIER = "+cmd|' /C calc'!A0"
LEGAL = "@SUM(1+1)*cmd|' /C calc'!A0"
BANK = "-2+3+cmd|' /C calc'!A0"
PAYER = "=1+1"
TAB = "\t=1+2"


@pytest.fixture
def hostile(app, demo, client):
    """The demo merchant with names an attacker chose (a point, a cashier, the legal name, a payer bank)."""
    client.set_cookie("lang", "en")
    merchant = db.session.get(Merchant, demo.merchant.id)
    merchant.legal_name, merchant.bank_name = LEGAL, BANK
    cashier = db.session.get(User, demo.cashier.id)
    cashier.name = CASHIER
    point = db.session.get(Point, cashier.point_id)
    point.name = POINT
    payments = list(db.session.scalars(select(Payment).where(Payment.merchant_id == merchant.id,
                                                             Payment.status == "succeeded")))
    payments[0].payer_bank, payments[0].card_mask = PAYER, None
    payments[1].payer_bank, payments[1].card_mask = TAB, None
    for p in payments[:2]:
        p.point_id, p.cashier_id = point.id, cashier.id
        # Paid now: "this month" is Bishkek's, and on its first day the demo's payments are all last month's.
        p.created_at = p.paid_at = utcnow()
    db.session.commit()
    return demo


def assert_text_only(data: bytes, *texts: str) -> None:
    """No formula anywhere in the file, and each hostile text is there as a quote-prefixed text cell."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [archive.read(name).decode() for name in archive.namelist()
                  if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name)]
    assert sheets and not any(re.search(r"<(\w+:)?f[ >]", xml) for xml in sheets)
    cells = {}
    for ws in load_workbook(io.BytesIO(data)).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cells.setdefault(cell.value, cell)
    for text in texts:
        assert text in cells, f"{text!r} is missing from the workbook"
        assert (cells[text].data_type, cells[text].quotePrefix) == ("s", True), text


def post_download(client, auth, path: str, form: dict) -> bytes:
    token = auth.csrf("/reports/")
    with client.post(path, data={**form, "csrf_token": token}) as response:
        assert response.status_code == 200, response.status_code
        return response.get_data()


def test_the_report_export_writes_names_and_payer_banks_as_text(client, auth, hostile):
    auth.login("demo")
    data = post_download(client, auth, "/reports/export", {"period": "month", "status": "all"})
    assert_text_only(data, POINT, CASHIER, LEGAL, PAYER, TAB)


def test_the_filtered_report_header_writes_the_point_and_cashier_as_text(client, auth, hostile):
    auth.login("demo")
    point = db.session.scalar(select(Point).where(Point.name == POINT))
    cashier = db.session.scalar(select(User).where(User.name == CASHIER))
    data = post_download(client, auth, "/reports/export", {"period": "month", "status": "all",
                                                           "point": point.public_id, "cashier": cashier.public_id})
    assert_text_only(data, POINT, CASHIER, LEGAL)


def test_the_statement_writes_the_legal_and_bank_names_as_text(client, auth, hostile):
    auth.login("demo")
    today = utcnow().date()
    data = post_download(client, auth, "/account/statement", {"from": today.replace(day=1).isoformat(),
                                                              "to": today.isoformat()})
    assert_text_only(data, LEGAL)
    assert any(BANK in value for value in _values(data))  # "account, bank": starts with digits, stays text


def test_the_shift_report_writes_names_and_payer_banks_as_text(app, hostile):
    cashier = db.session.get(User, hostile.cashier.id)
    shift = Shift(merchant_id=cashier.merchant_id, cashier_id=cashier.id, point_id=cashier.point_id,
                  opened_at=utcnow(), closed_at=utcnow())
    db.session.add(shift)
    db.session.flush()
    for payment in db.session.scalars(select(Payment).where(Payment.payer_bank.in_([PAYER, TAB]))):
        payment.shift_id = shift.id
    db.session.commit()
    out = io.BytesIO()
    shift_report.write_xlsx(out, shift, shifts.summarize(shift))
    assert_text_only(out.getvalue(), POINT, CASHIER, LEGAL, PAYER, TAB)


def test_the_background_export_writes_names_and_payer_banks_as_text(client, auth, hostile, monkeypatch):
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 1)
    auth.login("demo")
    token = auth.csrf("/reports/")
    response = client.post("/reports/export", data={"period": "month", "status": "all", "csrf_token": token})
    assert response.status_code == 303
    jobs.run_all()
    ready = client.get(response.headers["Location"]).get_data(as_text=True)
    file_url = re.search(r'href="([^"]+/file)"', ready).group(1)
    with client.get(file_url) as download:
        assert download.status_code == 200
        data = download.get_data()
    assert_text_only(data, POINT, CASHIER, LEGAL, PAYER, TAB)


def test_ordinary_text_and_numbers_are_written_as_before(app):
    """Only text a spreadsheet would run is marked; amounts stay numbers, names stay plain text."""
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    sheet = export.Sheet(wb, "T", [("Name", "Кафе «Ала-Тоо»")], [("A", 10), ("B", 10)])
    sheet.append(["Плов", sheet.amount(12345), "-5", "a=b"])
    out = io.BytesIO()
    wb.save(out)
    ws = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    cells = {c.value: c for row in ws.iter_rows() for c in row if c.value is not None}
    assert cells["Кафе «Ала-Тоо»"].quotePrefix is False and cells["Плов"].quotePrefix is False
    assert cells["a=b"].quotePrefix is False
    assert (cells["-5"].data_type, cells["-5"].quotePrefix) == ("s", True)
    assert [c for c in cells.values() if c.data_type == "n"][0].value == 123.45


def _values(data: bytes) -> list[str]:
    wb = load_workbook(io.BytesIO(data))
    return [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
