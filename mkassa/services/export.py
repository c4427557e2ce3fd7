"""Excel files for reports (M8.3) and statements (M5.7), and the background jobs for large ones.

openpyxl's write-only mode streams rows to a temporary file as they are appended, so memory stays
flat however many rows there are; in that mode the frozen pane and the column widths must be set
before the first row. Cells are typed: datetimes (Bishkek wall time: Excel has no time zones) and
amounts as numbers of som with a som number format, so that the file sums and sorts correctly.

Every workbook is written through `Sheet`, and no cell is ever a formula: text that people typed (point,
cashier and legal names) or the Bank sent (payer banks) is written as text, and text a spreadsheet
would read as a formula is also marked quote-prefixed (OWASP's CSV-injection rules), so that
`=HYPERLINK(...)` as a point name stays a name, also when the cell is edited or the sheet saved as CSV.
"""
from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import func, or_, select, update

from ..extensions import db
from ..models import ExportJob, Merchant, Payment, Point, Refund, User, utcnow
from ..models.payment import PaymentStatus
from ..security import scoped
from ..timeutil import to_local
from . import Conflict, jobs, reports, statement

log = logging.getLogger(__name__)

AMOUNT_FORMAT = '#,##0.00 "сом"'
DATETIME_FORMAT = "dd.mm.yyyy hh:mm:ss"
DATE_FORMAT = "dd.mm.yyyy"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Up to this many rows a download is made while the user waits (a few seconds at most); more go
# to a background job with a progress bar.
INLINE_MAX_ROWS = 20_000
# A finished file stays downloadable this long, then it is deleted.
KEEP_SECONDS = 24 * 3600
# Files one person may have waiting or in the making at once: each costs a worker minutes.
MAX_OPEN_JOBS_PER_USER = 2
# A job whose worker died is taken up again after this.
CLAIM_SECONDS = 15 * 60
# How often waiting exports are looked for (seconds): the user is watching the progress bar.
EXPORT_EVERY_SECONDS = 2
BOLD = Font(bold=True)
# What makes a spreadsheet read a cell as a formula or a DDE call (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def som(tyiyn: int) -> Decimal:
    """Tyiyn as an exact decimal number of som (never a float)."""
    return Decimal(tyiyn).scaleb(-2)


def excel_time(value: datetime | None) -> datetime | None:
    return to_local(value).replace(tzinfo=None) if value else None


class Sheet:
    """A write-only sheet with a header block, a frozen column-title row, typed cells and widths."""

    def __init__(self, wb: Workbook, title: str, header: list[tuple[str, object]], columns: list[tuple[str, int]]):
        self.ws: WriteOnlyWorksheet = wb.create_sheet(title=title[:31])
        self.ws._values_to_row = types.MethodType(_values_to_row, self.ws)  # see _values_to_row
        # The table's title row comes after the header block and one blank row; freeze below it.
        self.ws.freeze_panes = f"A{len(header) + 3}"
        for index, (_title, width) in enumerate(columns):
            self.ws.column_dimensions[chr(ord("A") + index)].width = width
        # Each style resolved once per sheet: a cell made with a ready style array skips the style
        # registry lookups that setting number_format or font on every cell would repeat (most of the
        # per-row cost of a 100 000-row export).
        self._datetime_style = self._style_array(number_format=DATETIME_FORMAT)
        self._date_style = self._style_array(number_format=DATE_FORMAT)
        self._amount_style = self._style_array(number_format=AMOUNT_FORMAT)
        self._bold_amount_style = self._style_array(number_format=AMOUNT_FORMAT, font=BOLD)
        for label, value in header:
            self.append([self._bold(label), self._typed(value)])
        self.append([])
        self.append([self._bold(title) for title, _width in columns])

    def _style_array(self, **style) -> StyleArray:
        cell = WriteOnlyCell(self.ws)
        for name, value in style.items():
            setattr(cell, name, value)
        return cell._style

    def _bold(self, value) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws, value=value)
        cell.font = BOLD
        return cell

    def _typed(self, value) -> object:
        if isinstance(value, datetime):
            return self.datetime(value)
        return value

    def _inert(self, value) -> object:
        """Text as text: openpyxl would store a string starting with "=" as a formula."""
        if isinstance(value, str):
            if not value.startswith(FORMULA_TRIGGERS):
                return value
            value = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, Cell) and isinstance(value.value, str) and (
                value.data_type == "f" or value.value.startswith(FORMULA_TRIGGERS)):
            value.data_type = "s"
            value.quotePrefix = True
        return value

    def _styled(self, value, style: StyleArray) -> Cell:
        # What WriteOnlyCell makes (row and column are set when the row is written), with its style.
        return Cell(self.ws, row=1, column=1, value=value, style_array=style)

    def datetime(self, value: datetime | None) -> Cell:
        return self._styled(excel_time(value), self._datetime_style)

    def date(self, value: date) -> Cell:
        return self._styled(value, self._date_style)

    def amount(self, tyiyn: int, bold: bool = False) -> Cell:
        return self._styled(som(tyiyn), self._bold_amount_style if bold else self._amount_style)

    def append(self, row: list) -> None:
        self.ws.append([self._inert(value) for value in row])

    def bold(self, value) -> WriteOnlyCell:
        return self._bold(value)


def _values_to_row(ws: WriteOnlyWorksheet, values, row_idx: int):
    """What openpyxl's WriteOnlyWorksheet._values_to_row does (3.1.5, pinned), with a cell made here
    taken as it is. openpyxl first tries any value as a plain value and takes a cell from the
    ValueError, whose message formats the cell's repr: with three styled cells a row that was a tenth
    of a 100 000-row export (bench_excel). tests/unit/test_excel_rows.py checks the two agree."""
    cell = WriteOnlyCell(ws)
    for col_idx, value in enumerate(values, 1):
        if value is None:
            continue
        if isinstance(value, Cell):
            cell = value
        else:
            cell.value = value
        cell.column, cell.row = col_idx, row_idx
        if cell.hyperlink is not None:
            cell.hyperlink.ref = cell.coordinate
        yield cell
        if cell.has_style or cell.hyperlink:  # a fresh cell after one with a style of its own
            cell = WriteOnlyCell(ws)


def _period_text(first: date, last: date) -> str:
    if first == last:
        return format_date(first, "long")
    return f"{format_date(first, 'long')} – {format_date(last, 'long')}"


def _method_label(method: str | None) -> str:
    return {"qr": _("QR"), "card": _("Card")}.get(method or "", _("All"))


def _status_label(status: str | None) -> str:
    return str(PaymentStatus(status).label) if status else _("All")


@dataclass(frozen=True)
class Written:
    count: int  # rows written, any status
    amount: int  # money received: paid rows only
    paid: int = 0  # paid rows


def write_report(target, merchant: Merchant, f: reports.ReportFilter, rows: Iterable[reports.ExportRow],
                 names: dict[str, dict[int, str]], generated_at: datetime,
                 refunded: tuple[int, int] = (0, 0)) -> Written:
    """The report as .xlsx into `target` (a path or a binary file). Totals are summed from the rows
    written, so the totals row always agrees with the lines above it. Like the screen, the money total
    counts paid payments only, whatever the status filter: failed, expired, cancelled and waiting
    payments are listed, never added to what was received."""
    wb = Workbook(write_only=True)
    header = [(_("Payments report"), merchant.legal_name), (_("INN"), merchant.inn),
              (_("Period"), _period_text(f.first, f.last)),
              (_("Point"), f.point.name if f.point else _("All")),
              (_("Cashier"), f.cashier.name if f.cashier else _("All")),
              (_("Payment type"), _method_label(f.method)), (_("Status"), _status_label(f.status)),
              (_("Generated"), generated_at)]
    columns = [(_("Date and time"), 20), (_("Payment"), 28), (_("Point"), 24), (_("Cashier"), 24),
               (_("Type"), 8), (_("Status"), 12), (_("Amount"), 16), (_("Paid at"), 20), (_("Payer"), 24)]
    sheet = Sheet(wb, _("Payments"), header, columns)
    statuses = {s: _status_label(s) for s in PaymentStatus}
    methods = {m: _method_label(m) for m in ("qr", "card")}
    points, people = names["points"], names["people"]
    count = amount = paid = 0
    for r in rows:
        sheet.append([sheet.datetime(r.created_at), r.public_id, points.get(r.point_id, ""),
                      people.get(r.cashier_id, ""), methods[r.method], statuses[r.status], sheet.amount(r.amount),
                      sheet.datetime(r.paid_at) if r.paid_at else None, r.card_mask or r.payer_bank or ""])
        count += 1
        if r.status == reports.RECEIVED_STATUS:
            paid += 1
            amount += r.amount
    if f.status != reports.RECEIVED_STATUS:
        sheet.append([sheet.bold(_("Payments listed")), sheet.bold(count)])
    sheet.append([sheet.bold(_("Total received (paid payments only)")), sheet.bold(paid), None, None, None, None,
                  sheet.amount(amount, True)])
    if refunded[1]:
        # Refunds the Bank returned in the period (reports.refunds_in), and what is left: the net.
        sheet.append([sheet.bold(_("Refunds")), sheet.bold(refunded[1]), None, None, None, None,
                      sheet.amount(-refunded[0], True)])
        sheet.append([sheet.bold(_("Net")), None, None, None, None, None, sheet.amount(amount - refunded[0], True)])
    wb.save(target)
    return Written(count, amount, paid)


def write_statement(target, merchant: Merchant, st: statement.Statement, entries_for, generated_at: datetime) -> None:
    """The detailed statement: one sheet per account, opening row, every movement with the running
    balance, closing row. `entries_for(account)` yields that account's entries in time order."""
    wb = Workbook(write_only=True)
    for acc in st.accounts:
        header = [(_("Account statement"), merchant.legal_name), (_("INN"), merchant.inn),
                  (_("Account"), f"{merchant.account_number}, {merchant.bank_name}"),
                  (_("BIC"), merchant.bank_bic), (_("Balance"), str(acc.label)),
                  (_("Period"), _period_text(st.first, st.last)), (_("Generated"), generated_at)]
        columns = [(_("Date and time"), 20), (_("Operation"), 26), (_("Payment"), 28), (_("Incoming"), 16),
                   (_("Outgoing"), 16), (_("Balance"), 18)]
        sheet = Sheet(wb, str(acc.label), header, columns)
        sheet.append([sheet.bold(_("Opening balance")), None, None, None, None, sheet.amount(acc.opening, True)])
        running = acc.opening
        labels: dict[str, str] = {}
        for e in entries_for(acc.account):
            running += e.amount
            label = labels.setdefault(e.kind, str(statement.movement_label(e.kind)))
            sheet.append([sheet.datetime(e.created_at), label, e.payment_public_id or "",
                          sheet.amount(e.amount) if e.amount > 0 else None,
                          sheet.amount(-e.amount) if e.amount < 0 else None, sheet.amount(running)])
        sheet.append([sheet.bold(_("Closing balance")), None, None, sheet.amount(acc.incoming, True),
                      sheet.amount(acc.outgoing, True), sheet.amount(acc.closing, True)])
    wb.save(target)


def report_names(merchant_id: int) -> dict[str, dict[int, str]]:
    """Point and people names by id: a few rows, looked up once instead of joined per payment."""
    points = dict(db.session.execute(select(Point.id, Point.name).where(Point.merchant_id == merchant_id)).all())
    people = dict(db.session.execute(select(User.id, User.name).where(User.merchant_id == merchant_id)).all())
    return {"points": points, "people": people}


def file_name(kind: str, first: date, last: date) -> str:
    prefix = "mkassa-report" if kind == "report" else "mkassa-statement"
    return f"{prefix}-{first.isoformat()}-{last.isoformat()}.xlsx"


# --- background jobs --------------------------------------------------------------------------

def exports_dir() -> Path:
    path = Path(current_app.instance_path) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_path(job: ExportJob) -> Path:
    return exports_dir() / f"{job.public_id}.xlsx"


def start_job(user: User, kind: str, params: dict[str, str], rows_total: int, locale: str) -> ExportJob:
    open_jobs = db.session.scalar(select(func.count()).select_from(ExportJob).where(
        ExportJob.user_id == user.id, ExportJob.status.in_(("pending", "running"))))
    if open_jobs >= MAX_OPEN_JOBS_PER_USER:
        raise Conflict(_("Your earlier files are still being prepared. Please wait until they are ready."))
    job = ExportJob(merchant_id=user.merchant_id, user_id=user.id, kind=kind, params=params, locale=locale,
                    rows_total=rows_total)
    db.session.add(job)
    db.session.flush()
    return job


def _claim(now: datetime) -> ExportJob | None:
    job_id = db.session.scalar(
        select(ExportJob.id).where(or_(ExportJob.status == "pending",
                                       (ExportJob.status == "running") & (ExportJob.locked_until < now)))
        .order_by(ExportJob.created_at).limit(1))
    if job_id is None:
        return None
    claimed = db.session.execute(
        update(ExportJob).where(ExportJob.id == job_id,
                                or_(ExportJob.status == "pending", ExportJob.locked_until < now))
        .values(status="running", locked_until=now + timedelta(seconds=CLAIM_SECONDS), rows_done=0))
    db.session.commit()
    return db.session.get(ExportJob, job_id) if claimed.rowcount == 1 else None


@jobs.periodic("export_jobs", every_seconds=EXPORT_EVERY_SECONDS)
def run_export_jobs() -> None:
    """One waiting export per beat, plus the clean-up of expired files.

    The job reads in batches and commits between them (progress for the screen, and no long
    transaction holding SQLite's write lock).
    """
    now = utcnow()
    _expire(now)
    job = _claim(now)
    if job is None:
        return
    try:
        with force_locale(job.locale):
            _generate(job)
    except Exception:  # the user sees "failed" and may ask again; the operator gets the traceback
        log.exception("export job %s failed", job.public_id)
        db.session.rollback()
        db.session.execute(update(ExportJob).where(ExportJob.id == job.id)
                           .values(status="failed", finished_at=utcnow(), locked_until=None))
        db.session.commit()


def _progress(job_id: int, done: int) -> None:
    db.session.execute(update(ExportJob).where(ExportJob.id == job_id).values(rows_done=done))
    db.session.commit()


def _generate(job: ExportJob) -> None:
    job_id, params = job.id, dict(job.params)
    merchant = db.session.get(Merchant, job.merchant_id)
    user = db.session.get(User, job.user_id)
    path = job_path(job)
    partial = path.with_suffix(".part")
    if job.kind == "report":
        scope = scoped(Payment, user=user)
        points, people = ([], []) if user.is_cashier else reports.choices(scoped(Point, user=user),
                                                                          scoped(User, user=user))
        f = reports.parse_filter(params, points, people)
        rows = reports.iter_export_rows(scope, f, between_batches=lambda done: _progress(job_id, done))
        write_report(partial, merchant, f, rows, report_names(merchant.id), utcnow(),
                     reports.refunds_in(scoped(Refund, user=user), f))
        name = file_name("report", f.first, f.last)
    else:
        first, last = statement.parse_dates(params)
        st = statement.statement(merchant.id, first, last)
        counter = {"done": 0}

        def entries_for(account: str):
            before = counter["done"]
            return statement.iter_entries(merchant.id, first, last, account,
                                          between_batches=lambda d: _progress(job_id, before + d))

        write_statement(partial, merchant, st, _counting(entries_for, counter), utcnow())
        name = file_name("statement", first, last)
    os.replace(partial, path)
    db.session.execute(update(ExportJob).where(ExportJob.id == job_id)
                       .values(status="done", file_name=name, finished_at=utcnow(), locked_until=None,
                               rows_done=ExportJob.rows_total))
    db.session.commit()


def _counting(entries_for, counter: dict):
    def wrapped(account: str):
        for entry in entries_for(account):
            counter["done"] += 1
            yield entry
    return wrapped


def _expire(now: datetime) -> None:
    old = db.session.scalars(select(ExportJob).where(ExportJob.created_at < now - timedelta(seconds=KEEP_SECONDS))
                             .limit(100)).all()
    for job in old:
        job_path(job).unlink(missing_ok=True)
        db.session.delete(job)
    if old:
        db.session.commit()
