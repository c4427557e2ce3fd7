"""Read models shared by screens: today's total and the payment history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Payment, Point, Refund, User
from ..timeutil import day_bounds_utc, local_today
from . import keyset

HISTORY_PAGE_SIZE = 30
# The order of the payment history (home, reports): newest first, the id breaking ties.
HISTORY_KEYS: tuple[keyset.Key, ...] = ((Payment.created_at, datetime), (Payment.id, int))


@dataclass(frozen=True)
class DayTotal:
    amount: int
    count: int
    # Refunds the Bank returned today (issue #17), and what is left of the day's takings.
    refunded: int = 0

    @property
    def net(self) -> int:
        return self.amount - self.refunded


def today_total(scoped_payments: Select, now: datetime | None = None,
                scoped_refunds: Select | None = None) -> DayTotal:
    """Succeeded payments paid during today's Bishkek day, within the caller's scope; with
    `scoped_refunds`, also the refunds the Bank returned today (whichever day their payment was)."""
    start, end = day_bounds_utc(local_today(now))
    # The scoped SELECTs' columns swapped for the aggregates, not wrapped in subqueries: no derived
    # table for the database to flatten, and no column collection for SQLAlchemy to build per request
    # (a subquery of the refunds made a proxy of each of its columns, a quarter of this function's time).
    paid = scoped_payments.where(Payment.status == "succeeded", Payment.paid_at >= start, Payment.paid_at < end)
    columns = [func.coalesce(func.sum(Payment.amount), 0), func.count()]
    if scoped_refunds is not None:
        # Both totals in one round trip: the refunds' sum as a scalar subquery beside the payments'.
        columns.append(scoped_refunds.where(Refund.status == "succeeded", Refund.finished_at >= start,
                                            Refund.finished_at < end)
                       .with_only_columns(func.coalesce(func.sum(Refund.amount), 0)).scalar_subquery())
    amount, count, *refunded = db.session.execute(paid.with_only_columns(*columns)).one()
    refunded = refunded[0] if refunded else 0
    return DayTotal(int(amount), int(count), int(refunded))


# What a history row shows (home/_rows.html, reports/_rows.html), with the id that orders it.
ROW_COLUMNS = (Payment.id, Payment.public_id, Payment.created_at, Payment.status, Payment.method, Payment.amount,
               Payment.card_mask)
# Made once: an alias built per request costs more than the query it joins (its mapper is adapted anew).
_CASHIER, _POINT = aliased(User, name="row_cashier"), aliased(Point, name="row_point")


def history_rows(scoped_payments: Select) -> Select:
    """The history's rows as plain result rows, the cashier's and the point's names joined in
    (`row.cashier_name`, `row.point_name`): thirty ORM payments with their cashier and point, loaded
    whole, cost twice what these columns do, and a screen only shows them."""
    return (scoped_payments.outerjoin(_CASHIER, _CASHIER.id == Payment.cashier_id)
            .outerjoin(_POINT, _POINT.id == Payment.point_id)
            .with_only_columns(*ROW_COLUMNS, _CASHIER.name.label("cashier_name"), _POINT.name.label("point_name")))


def history_page(scoped_payments: Select, cursor: str | None = None, size: int = HISTORY_PAGE_SIZE) -> keyset.Page:
    """History rows newest first, a page at a time below `cursor` (keyset: deep pages stay fast)."""
    return keyset.page(history_rows(scoped_payments), HISTORY_KEYS, cursor, size)
