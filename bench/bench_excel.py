"""Excel export of BENCH_EXCEL_ROWS rows (default 100 000): our report writer (typed, styled cells,
header block, totals) against raw openpyxl write-only appending the same values, each in a fresh
process so that peak RSS is its own. Prints rows/s, peak RSS and the ratios."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

ROWS = int(os.environ.get("BENCH_EXCEL_ROWS", "100000"))


def _rows(n: int):
    from mkassa.services.reports import ExportRow
    start = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    for i in range(n):
        at = start - timedelta(seconds=17 * i)
        yield ExportRow(at, f"01JDEMO{i:019d}", 1 + i % 5, 1 + i % 15, "qr" if i % 5 else "card", "succeeded",
                        (i % 97 + 1) * 1250, at + timedelta(seconds=20), "MBANK", None)


def _ours(path: str) -> None:
    from mkassa.models import Merchant, Point, User
    from mkassa.services import export
    from mkassa.services.reports import ReportFilter
    from bench.common import scratch_app
    app = scratch_app()
    merchant = Merchant(legal_name="ОсОО Биг Базар", inn="01234201910123")
    names = {"points": {i: f"Точка {i}" for i in range(1, 6)}, "people": {i: f"Кассир {i}" for i in range(1, 16)}}
    f = ReportFilter(period="custom", first=date(2026, 1, 1), last=date(2026, 11, 27), point=Point(name="x"),
                     cashier=User(name="y"))
    with app.test_request_context("/"):
        export.write_report(path, merchant, f, _rows(ROWS), names, datetime.now(timezone.utc))


def _raw(path: str) -> None:
    from openpyxl import Workbook
    from mkassa.services.export import excel_time, som
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    for r in _rows(ROWS):
        ws.append([excel_time(r.created_at), r.public_id, f"Точка {r.point_id}", f"Кассир {r.cashier_id}", r.method,
                   r.status, som(r.amount), excel_time(r.paid_at), r.payer_bank])
    wb.save(path)


def _child(which: str) -> None:
    path = tempfile.mktemp(suffix=".xlsx")
    t0 = time.perf_counter()
    (_ours if which == "ours" else _raw)(path)
    elapsed = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{elapsed} {rss_mb} {os.path.getsize(path)}")
    os.unlink(path)


def main() -> None:
    results = {}
    for which in ("raw", "ours"):
        out = subprocess.run([sys.executable, "-m", "bench.bench_excel", which], capture_output=True, text=True,
                             check=True).stdout.split()
        elapsed, rss, size = float(out[-3]), float(out[-2]), int(out[-1])
        results[which] = (elapsed, rss)
        print(f"{which:5} {ROWS} rows: {ROWS / elapsed:9.0f} rows/s, {elapsed:6.1f} s, peak RSS {rss:6.0f} MB, "
              f"file {size / 1e6:.1f} MB", flush=True)
    (t_raw, m_raw), (t_ours, m_ours) = results["raw"], results["ours"]
    print(f"ours/raw: time {t_ours / t_raw:.2f}x, peak RSS {m_ours / m_raw:.2f}x "
          f"(ours includes the app import and the header, styles and totals)")


if __name__ == "__main__":
    _child(sys.argv[1])
