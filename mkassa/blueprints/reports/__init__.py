"""Reports (M8, M5.6; M10 for cashiers): filters in the URL, totals, chart, list, Excel download."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_login import current_user

from ...htmx import wants_fragment
from ...models import ExportJob, Payment, PaymentDay, PaymentHour, Refund, Point, User, utcnow
from ...security import get_scoped_or_404, merchant_user_required, run_prepared, scoped
from ...services import Conflict, Invalid, export, keyset, reports
from ...services.queries import HISTORY_KEYS, history_rows
from ..common import send_xlsx

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _choices():
    """What this user may filter by: cashiers see only their own payments, so no point/cashier."""
    if current_user.is_cashier:
        return [], []
    # reports.choices' statement, built once (security.prepared).
    return reports.choices_of(run_prepared(
        ("reports.choices",), lambda: reports.choices_statement(scoped(Point), scoped(User)), {}))


def _report(f: reports.ReportFilter) -> tuple[keyset.Page, reports.Summary]:
    """The report's first page and summary with its refunds: reports.page's and summarize's statements
    (the refunds read with the totals), built once per shape of report (security.prepared), run with
    this report's values."""
    shape, values = reports.shape(f), reports.params(f)
    rows = run_prepared(("reports.page", shape), lambda: keyset.first_page(
        history_rows(reports.apply(scoped(Payment), f)), HISTORY_KEYS, reports.PAGE_SIZE), values).all()
    summary = reports.summary_of(run_prepared(
        ("reports.summary", shape),
        lambda: reports.summary_statement(
            scoped(Payment), f, scoped(PaymentDay), scoped(Refund),
            # The shop's hourly rollup holds every cashier's takings: owners only (scope.RULES).
            None if current_user.is_cashier else scoped(PaymentHour)), values), f)
    return keyset.result(rows, HISTORY_KEYS, reports.PAGE_SIZE), summary


@bp.get("/")
@merchant_user_required
def index():
    points, people = _choices()
    template = "reports/_report.html" if wants_fragment() else "reports/index.html"
    try:
        f = reports.parse_filter(request.args, points, people)
    except Invalid as exc:
        return render_template(template, f=None, errors=exc.errors, args=request.args, points=points,
                               people=people), 422
    page, summary = _report(f)
    return render_template(template, f=f, errors={}, args=f.args(), points=points, people=people,
                           summary=summary, rows=page.rows, next_cursor=page.next_cursor)


@bp.get("/rows")
@merchant_user_required
def rows():
    """The next page of the list (infinite scroll); a plain page without JavaScript."""
    points, people = _choices()
    try:
        f = reports.parse_filter(request.args, points, people)
    except Invalid:
        abort(400)
    page = reports.page(scoped(Payment), f, request.args.get("before"))
    template = "reports/_rows.html" if wants_fragment() else "reports/rows.html"
    return render_template(template, f=f, args=f.args(), rows=page.rows, next_cursor=page.next_cursor)


@bp.post("/export")
@merchant_user_required
def export_report():
    """Download the report as .xlsx: at once when small, else as a background job with progress."""
    points, people = _choices()
    try:
        f = reports.parse_filter(request.form, points, people)
    except Invalid:
        abort(400)
    total = reports.count_rows(scoped(Payment), f)
    if total > export.INLINE_MAX_ROWS:
        try:
            job = export.start_job(current_user, "report", f.pinned_args(), total, str(get_locale() or "ru"))
        except Conflict as exc:
            abort(409, description=exc.message)
        return redirect(url_for("reports.export_job", public_id=job.public_id), code=303)
    names = export.report_names(current_user.merchant_id)
    return send_xlsx(lambda out: export.write_report(out, current_user.merchant, f,
                                                 reports.iter_export_rows(scoped(Payment), f), names, utcnow(),
                                                 reports.refunds_in(scoped(Refund), f)),
                 export.file_name("report", f.first, f.last))


@bp.get("/exports/<public_id>")
@merchant_user_required
def export_job(public_id: str):
    job = get_scoped_or_404(ExportJob, public_id)  # whoever asked for it (scope.RULES)
    template = "reports/_job.html" if wants_fragment() else "reports/job.html"
    return render_template(template, job=job)


@bp.get("/exports/<public_id>/file")
@merchant_user_required
def export_file(public_id: str):
    job = get_scoped_or_404(ExportJob, public_id)  # whoever asked for it (scope.RULES)
    path = export.job_path(job)
    if job.status != "done" or not path.exists():
        abort(404)
    return send_file(path, mimetype=export.XLSX_MIMETYPE, as_attachment=True, download_name=job.file_name)
