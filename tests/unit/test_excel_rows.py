"""Excel sheets turn appended rows into cells with export._values_to_row instead of openpyxl's own
(which takes a styled cell only after failing to store it as a value): the files must not differ."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

from openpyxl import Workbook, load_workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from mkassa.services import export

HEADER = [("Report", "ОсОО Тест"), ("Generated", datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc))]
COLUMNS = [("When", 20), ("Text", 20), ("Amount", 16), ("Day", 12), ("Count", 8)]


def _workbook() -> bytes:
    wb = Workbook(write_only=True)
    sheet = export.Sheet(wb, "Payments", HEADER, COLUMNS)
    at = datetime(2026, 11, 27, 12, 5, 9, tzinfo=timezone.utc)
    for row in ([sheet.datetime(at), "Кассир 1", sheet.amount(123_45), sheet.date(date(2026, 11, 27)), 3],
                [None, '=HYPERLINK("http://x")', sheet.amount(-5, bold=True), None, 0],
                [sheet.datetime(None), "+996 555", None, sheet.date(date(2026, 1, 1)), 2.5],
                [sheet.bold("Total"), sheet.bold(7), sheet.amount(10**15, bold=True), "@cmd", "-1"]):
        sheet.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cells(data: bytes) -> list[tuple]:
    ws = load_workbook(io.BytesIO(data)).active
    return [(c.coordinate, c.value, c.data_type, c.number_format, c.font.b, c.quotePrefix)
            for row in ws.iter_rows() for c in row]


def test_sheets_write_the_cells_openpyxl_s_own_row_conversion_writes(monkeypatch):
    ours = _cells(_workbook())
    monkeypatch.setattr(export, "_values_to_row", WriteOnlyWorksheet._values_to_row)
    theirs = _cells(_workbook())
    assert ours == theirs
    # What the rows hold, so that the comparison is not of two empty sheets.
    values = {coordinate: (value, fmt, bold) for coordinate, value, _t, fmt, bold, _q in ours}
    assert values["C5"] == (123.45, export.AMOUNT_FORMAT, False)
    assert values["A5"][1] == export.DATETIME_FORMAT and values["D5"][1] == export.DATE_FORMAT
    assert values["B6"][0] == '=HYPERLINK("http://x")'  # text, never a formula
    assert values["A8"] == ("Total", "General", True) and values["C8"][2] is True
