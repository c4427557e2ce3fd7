"""The shift report as .xlsx (M5.5): the file attached to the shift-report e-mail."""
from __future__ import annotations

from flask_babel import gettext as _
from openpyxl import Workbook
from sqlalchemy import select

from ..extensions import db
from ..models import Payment, Shift
from ..timeutil import to_local
from . import export
from .shifts import Summary, method_label, status_label


def write_xlsx(target, shift: Shift, summary: Summary) -> None:
    """The shift's payments as .xlsx: a header block, one row per payment, the totals below."""
    wb = Workbook(write_only=True)
    merchant = shift.merchant
    header = [(_("Shift report"), merchant.legal_name), (_("INN"), merchant.inn),
              (_("Point"), shift.point.name if shift.point else ""), (_("Cashier"), shift.cashier.name),
              (_("Opened"), shift.opened_at), (_("Closed"), shift.closed_at),
              (_("Closed automatically"), _("Yes") if shift.closed_automatically else _("No"))]
    columns = [(_("Date and time"), 20), (_("Payment"), 28), (_("Type"), 8), (_("Status"), 12), (_("Amount"), 16),
               (_("Paid at"), 20), (_("Payer"), 24)]
    sheet = export.Sheet(wb, _("Payments"), header, columns)
    payments = db.session.scalars(select(Payment).where(Payment.shift_id == shift.id)
                                  .order_by(Payment.created_at, Payment.id))
    total = 0
    for p in payments:
        sheet.append([sheet.datetime(p.created_at), p.public_id, method_label(p.method), status_label(p.status),
                      sheet.amount(p.amount), sheet.datetime(p.paid_at) if p.paid_at else None,
                      p.card_mask or p.payer_bank])
        total += p.amount
    sheet.append([sheet.bold(_("Total")), sheet.bold(summary.count), None, None, sheet.amount(total, True)])
    sheet.append([sheet.bold(_("Paid")), sheet.bold(summary.paid_count), None, None,
                  sheet.amount(summary.paid_amount, True)])
    if summary.refund_count:
        sheet.append([sheet.bold(_("Refunds")), sheet.bold(summary.refund_count), None, None,
                      sheet.amount(-summary.refunded, True)])
        sheet.append([sheet.bold(_("Net")), None, None, None, sheet.amount(summary.net, True)])
    wb.save(target)


def report_file_name(shift: Shift) -> str:
    return f"mkassa-shift-{to_local(shift.opened_at):%Y-%m-%d-%H%M}-{shift.public_id[-6:].lower()}.xlsx"
