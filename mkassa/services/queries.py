"""Read models shared by screens: today's total and the payment history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func
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


def bound(column: ColumnElement, name: str, value: Any) -> BindParameter:
    """`value` as the bound parameter `name`, of `column`'s type: a value that varies between runs of
    a statement built once (security.prepared) is given by that name when it runs."""
    return bindparam(name, value, type_=column.type)


def today_params(now: datetime | None = None) -> dict[str, Any]:
    """The values of today_statement's parameters: today's Bishkek day, in UTC."""
    start, end = day_bounds_utc(local_today(now))
    return {"day_start": start, "day_end": end}


def today_statement(scoped_payments: Select, scoped_refunds: Select | None = None,
                    now: datetime | None = None) -> Select:
    """The SELECT of today_total's figures (`day_start`, `day_end`: today_params)."""
    day = today_params(now)
    # The scoped SELECTs' columns swapped for the aggregates, not wrapped in subqueries: no derived
    # table for the database to flatten, and no column collection for SQLAlchemy to build per request
    # (a subquery of the refunds made a proxy of each of its columns, a quarter of this function's time).
    paid = scoped_payments.where(Payment.status == "succeeded",
                                 Payment.paid_at >= bound(Payment.paid_at, "day_start", day["day_start"]),
                                 Payment.paid_at < bound(Payment.paid_at, "day_end", day["day_end"]))
    columns = [func.coalesce(func.sum(Payment.amount), 0), func.count()]
    if scoped_refunds is not None:
        # Both totals in one round trip: the refunds' sum as a scalar subquery beside the payments'.
        refunded = scoped_refunds.where(Refund.status == "succeeded",
                                        Refund.finished_at >= bound(Refund.finished_at, "day_start", day["day_start"]),
                                        Refund.finished_at < bound(Refund.finished_at, "day_end", day["day_end"]))
        columns.append(refunded.with_only_columns(func.coalesce(func.sum(Refund.amount), 0)).scalar_subquery())
    return paid.with_only_columns(*columns)


def day_total(row) -> DayTotal:
    """The DayTotal of today_statement's row."""
    amount, count, *refunded = row
    return DayTotal(int(amount), int(count), int(refunded[0]) if refunded else 0)


def today_total(scoped_payments: Select, now: datetime | None = None,
                scoped_refunds: Select | None = None) -> DayTotal:
    """Succeeded payments paid during today's Bishkek day, within the caller's scope; with
    `scoped_refunds`, also the refunds the Bank returned today (whichever day their payment was)."""
    return day_total(db.session.execute(today_statement(scoped_payments, scoped_refunds, now)).one())


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
