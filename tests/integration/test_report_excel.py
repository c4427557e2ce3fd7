"""Excel downloads (M8.3) and the account statement (M5.7): files open with openpyxl and agree with
the screen; opening + movements = closing to the tyiyn; large files are made in the background."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import ExportJob, LedgerAccount, LedgerEntry, Merchant, Payment, User
from mkassa.services import bigdata, export, jobs, ledger, statement

BISHKEK = ZoneInfo("Asia/Bishkek")
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=BISHKEK)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def english(client):
    """Texts are checked in English (the msgids), whatever the catalogs say."""
    client.set_cookie("lang", "en")


@pytest.fixture
def big(app):
    with time_machine.travel(NOW, tick=False):
        result = bigdata.generate(1500, days=45, points=2, cashiers_per_point=2, now=NOW)
    merchant = db.session.get(Merchant, result.merchant_id)
    people = {u.login: u for u in db.session.scalars(select(User).where(User.merchant_id == merchant.id))}
    return merchant, people


def screen(client, query: str) -> tuple[int, int]:
    """(money received, paid payments) as the report screen shows them."""
    html = client.get(f"/reports/?{query}").get_data(as_text=True)
    amount = int(re.search(r'data-testid="report-total" data-amount="(\d+)"', html).group(1))
    count = int(re.search(r'data-testid="report-count" data-count="(\d+)"', html).group(1))
    return amount, count


def listed(client, query: str) -> int:
    """How many payments of any status the screen lists."""
    html = client.get(f"/reports/?{query}").get_data(as_text=True)
    return int(re.search(r'data-testid="report-matched" data-count="(\d+)"', html).group(1))


def download(client, auth, path: str, form: dict) -> bytes:
    token = auth.csrf("/reports/")
    with client.post(path, data={**form, "csrf_token": token}) as response:  # closes the sent file
        assert response.status_code == 200, response.status_code
        assert response.mimetype == export.XLSX_MIMETYPE
        assert "attachment" in response.headers["Content-Disposition"]
        return response.get_data()


def table(ws) -> tuple[list, list[list], list]:
    """(title row, data rows, totals row) of a report sheet: the title row is the one frozen above;
    a data row has a payment id in column B, a totals row a count."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    title_index = int(re.match(r"A(\d+)", ws.freeze_panes).group(1)) - 2
    body = rows[title_index + 1:]
    return rows[title_index], [r for r in body if isinstance(r[1], str)], body[-1]


def test_report_excel_matches_the_screen(client, auth, big):
    merchant, people = big
    query = {"period": "month", "status": "succeeded", "method": "qr"}
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        amount, count = screen(client, "period=month&status=succeeded&method=qr")
        data = download(client, auth, "/reports/export", query)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.freeze_panes == "A11"  # header block (8 rows), a blank row, the column titles
    assert ws["B1"].value == merchant.legal_name and ws["A8"].value == "Generated"
    assert isinstance(ws["B8"].value, datetime) and abs(ws["B8"].value - NOW.replace(tzinfo=None)) < timedelta(seconds=1)
    titles, rows, totals = table(ws)
    assert titles[0] == "Date and time" and titles[6] == "Amount"
    assert len(rows) == count and totals[1] == count
    assert Decimal(str(totals[6])) == Decimal(amount) / 100
    assert sum(Decimal(str(r[6])) for r in rows) == Decimal(amount) / 100
    first = ws.cell(row=12, column=1)
    assert first.is_date and first.number_format == export.DATETIME_FORMAT
    assert ws.cell(row=12, column=7).number_format == export.AMOUNT_FORMAT
    assert {r[4] for r in rows} == {"QR"} and {r[5] for r in rows} == {"Paid"}
    # Newest first, like the screen, in Bishkek wall time.
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(datetime(2026, 11, 1) <= s < datetime(2026, 11, 28) for s in stamps)
    assert ws.column_dimensions["A"].width == 20


def test_all_statuses_excel_totals_only_the_money_received(client, auth, demo):
    """#11: "All statuses" added failed, expired and cancelled amounts into the total."""
    now = datetime(2025, 1, 15, 6, 0, tzinfo=timezone.utc)  # a day the demo shop sold nothing
    for status, amount in (("succeeded", 10_000), ("failed", 20_000), ("expired", 40_000), ("cancelled", 80_000),
                           ("succeeded", 1)):
        db.session.add(Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id, cashier_id=demo.owner.id,
                               method="qr", amount=amount, status=status, created_at=now,
                               paid_at=now if status == "succeeded" else None))
    db.session.commit()
    auth.login("demo")
    data = download(client, auth, "/reports/export",
                    {"period": "custom", "from": "2025-01-15", "to": "2025-01-15", "status": "all"})
    ws = load_workbook(io.BytesIO(data)).active
    _titles, rows, totals = table(ws)
    assert len(rows) == 5
    last = [list(r) for r in ws.iter_rows(values_only=True)][-2:]
    assert last[0][:2] == ["Payments listed", 5]
    assert totals[0] == "Total received (paid payments only)" and totals[1] == 2
    assert Decimal(str(totals[6])) == Decimal("100.01")


def test_cashier_excel_holds_only_own_payments(client, auth, big):
    merchant, people = big
    with time_machine.travel(NOW, tick=False):
        auth.login("big-c2")
        amount, count = screen(client, "period=week&status=all")
        matched = listed(client, "period=week&status=all")
        data = download(client, auth, "/reports/export", {"period": "week", "status": "all"})
    _titles, rows, totals = table(load_workbook(io.BytesIO(data)).active)
    assert {r[3] for r in rows} == {people["big-c2"].name}
    assert totals[1] == count and Decimal(str(totals[6])) * 100 == amount
    assert len(rows) == matched


def test_large_export_runs_in_the_background_with_progress(client, auth, big, monkeypatch):
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 100)
    monkeypatch.setattr("mkassa.services.reports.EXPORT_BATCH_ROWS", 150)
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        amount, paid = screen(client, "period=month&status=all")
        count = listed(client, "period=month&status=all")
        assert count > 150
        token = auth.csrf("/reports/")
        response = client.post("/reports/export", data={"period": "month", "status": "all", "csrf_token": token})
        assert response.status_code == 303
        job_url = response.headers["Location"]
        waiting = client.get(job_url).get_data(as_text=True)
        assert 'data-status="pending"' in waiting and f"0 of {count} rows" in waiting
        jobs.run_all()
        ready = client.get(job_url, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'data-status="done"' in ready
        file_url = re.search(r'href="([^"]+/file)"', ready).group(1)
        with client.get(file_url) as data:
            assert data.status_code == 200 and data.mimetype == export.XLSX_MIMETYPE
            body = data.get_data()
        # Someone else of the same merchant cannot fetch it.
        auth.logout()
        auth.login("big-c1")
        assert client.get(file_url).status_code == 404
    _titles, rows, totals = table(load_workbook(io.BytesIO(body)).active)
    assert len(rows) == count and totals[1] == paid and Decimal(str(totals[6])) * 100 == amount


def test_a_person_has_at_most_two_files_in_the_making(client, auth, big, monkeypatch):
    monkeypatch.setattr(export, "INLINE_MAX_ROWS", 10)
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        token = auth.csrf("/reports/")
        form = {"period": "month", "status": "all", "csrf_token": token}
        statuses = [client.post("/reports/export", data=form).status_code
                    for _ in range(export.MAX_OPEN_JOBS_PER_USER + 1)]
        assert statuses == [303] * export.MAX_OPEN_JOBS_PER_USER + [409]
        assert "still being prepared" in client.post("/reports/export", data=form).get_data(as_text=True)
        jobs.run_all()  # one finished: room for one more
        assert client.post("/reports/export", data=form).status_code == 303


def test_bigdata_command(app):
    result = app.test_cli_runner().invoke(args=["demo", "bigdata", "--payments", "300", "--days", "10"])
    assert result.exit_code == 0, result.output
    assert "300 payments" in result.output and "owner login: big" in result.output
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 300
    assert ledger.entries_sum_matches_balances() and ledger.total_sum() == 0


def test_finished_exports_are_deleted_after_their_lifetime(app, big):
    merchant, people = big
    job = export.start_job(people["big"], "statement", {"from": "2026-11-01", "to": "2026-11-27"}, 10, "en")
    db.session.commit()
    with time_machine.travel(NOW, tick=False):
        jobs.run_all()
    path = export.job_path(job)
    assert path.exists()
    created = db.session.get(ExportJob, job.id).created_at
    with time_machine.travel(created + timedelta(seconds=export.KEEP_SECONDS - 1), tick=False):
        jobs.run_all()
    assert path.exists() and db.session.get(ExportJob, job.id) is not None
    with time_machine.travel(created + timedelta(seconds=export.KEEP_SECONDS + 1), tick=False):
        jobs.run_all()
    db.session.expire_all()
    assert not path.exists() and db.session.get(ExportJob, job.id) is None


def entries_sum(account_id: int, before: datetime) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                 .where(LedgerEntry.account_id == account_id, LedgerEntry.created_at < before)))


def amounts(html: str, section: str) -> dict[str, int]:
    part = re.search(rf'data-testid="statement-{section}".*?</section>', html, re.S).group(0)
    opening = int(re.search(r'data-testid="opening" data-amount="(-?\d+)"', part).group(1))
    closing = int(re.search(r'data-testid="closing" data-amount="(-?\d+)"', part).group(1))
    moves = [int(v) for v in re.findall(r'data-testid="movement" data-kind="\w+" data-amount="(-?\d+)"', part)]
    return {"opening": opening, "closing": closing, "moves": sum(moves), "kinds": len(moves)}


@pytest.mark.parametrize("first,last", [(date(2026, 11, 1), TODAY), (date(2026, 10, 20), date(2026, 11, 10)),
                                        (date(2026, 11, 16), date(2026, 11, 16))])
def test_statement_opening_plus_movements_is_closing_to_the_tyiyn(client, auth, big, first, last):
    merchant, _people = big
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        html = client.get(f"/account/?from={first}&to={last}").get_data(as_text=True)
    start = datetime.combine(first, datetime.min.time(), tzinfo=BISHKEK).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=BISHKEK).astimezone(timezone.utc)
    for kind in ("available", "processing"):
        account = db.session.scalar(select(LedgerAccount).where(LedgerAccount.merchant_id == merchant.id,
                                                                LedgerAccount.kind == kind))
        figures = amounts(html, kind)
        assert figures["opening"] == entries_sum(account.id, start)
        assert figures["closing"] == entries_sum(account.id, end)
        assert figures["opening"] + figures["moves"] == figures["closing"]
        assert figures["kinds"] > 0
        if last == TODAY:
            assert figures["closing"] == account.balance
    assert ledger.entries_sum_matches_balances() and ledger.total_sum() == 0


def test_statement_shows_withdrawals_and_the_excel_agrees(client, auth, big):
    merchant, _people = big
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        html = client.get("/account/?from=2026-11-01&to=2026-11-27").get_data(as_text=True)
        assert 'data-kind="payout_reserve"' in html and "Withdrawals" in html
        data = download(client, auth, "/account/statement", {"from": "2026-11-01", "to": "2026-11-27"})
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Available", "In processing"]
    for sheet, kind in zip(wb.worksheets, ("available", "processing")):
        figures = amounts(html, kind)
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        opening_row = next(r for r in rows if r[0] == "Opening balance")
        closing_row = rows[-1]
        assert closing_row[0] == "Closing balance"
        assert Decimal(str(opening_row[5])) * 100 == figures["opening"]
        assert Decimal(str(closing_row[5])) * 100 == figures["closing"]
        movements = rows[rows.index(opening_row) + 1:-1]
        incoming = sum(Decimal(str(r[3] or 0)) for r in movements)
        outgoing = sum(Decimal(str(r[4] or 0)) for r in movements)
        assert (incoming - outgoing) * 100 == figures["moves"]
        assert Decimal(str(movements[-1][5])) == Decimal(str(closing_row[5]))  # running balance ends at closing


def test_statement_is_for_owners_only_and_checks_its_dates(client, auth, big):
    with time_machine.travel(NOW, tick=False):
        auth.login("big-c1")
        assert client.get("/account/").status_code == 403
        auth.logout()
        auth.login("big")
        bad = client.get("/account/?from=2026-11-10&to=2026-11-01")
        assert bad.status_code == 422 and 'id="e-to" class="field-error"' in bad.get_data(as_text=True)
        limit = statement.STATEMENT_MAX_DAYS
        ok = client.get(f"/account/?from=2025-01-01&to={date(2025, 1, 1) + timedelta(days=limit - 1)}")
        too_long = client.get(f"/account/?from=2025-01-01&to={date(2025, 1, 1) + timedelta(days=limit)}")
    assert ok.status_code == 200 and too_long.status_code == 422


def test_bigdata_keeps_the_ledger_consistent(app, big):
    merchant, _people = big
    assert ledger.entries_sum_matches_balances()
    assert ledger.total_sum() == 0
    balances = ledger.balances(merchant.id)
    assert balances["available"] > 0 and balances["processing"] > 0 and balances["payout_pending"] == 0
