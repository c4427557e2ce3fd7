"""Account status and statement (M5.7), read from the merchant's ledger accounts.

The statement shows two accounts: "available" (settled money on the settlement account, what the
merchant may withdraw) and "in processing" (received, not yet settled). Every figure of one
statement comes from a single SQL statement, so that on PostgreSQL (read committed) a posting
landing meanwhile cannot make opening + movements differ from closing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal, or_, select, union_all

from ..extensions import db
from ..models import LedgerAccount, LedgerEntry, LedgerTransfer, Payment
from ..timeutil import local_today, range_bounds_utc
from . import Invalid

STATEMENT_ACCOUNTS = ("available", "processing")
STATEMENT_MAX_DAYS = 366
# Movements listed on the screen; the Excel file has them all.
SCREEN_ROWS = 20
BATCH_ROWS = 5000

# What each transfer kind means to the merchant, per account it touches.
MOVEMENT_LABELS = {
    "payment": _l("Payments received"),
    "settlement": _l("Payments settled"),
    "payout_reserve": _l("Withdrawals"),
    "payout_void": _l("Withdrawals returned"),
    "payout": _l("Withdrawals paid out"),
    "reversal": _l("Reversals"),
    # Issue #17: a refund leaves "available" when confirmed, and comes back if the Bank fails it.
    "refund_reserve": _l("Refunds to payers"),
    "refund_release": _l("Refunds returned"),
}
ACCOUNT_LABELS = {"available": _l("Available"), "processing": _l("In processing")}


def movement_label(kind: str):
    return MOVEMENT_LABELS.get(kind, _l("Other movements"))


@dataclass(frozen=True)
class Movement:
    kind: str
    incoming: int  # tyiyn, ≥ 0
    outgoing: int  # tyiyn, ≥ 0
    count: int

    @property
    def label(self):
        return movement_label(self.kind)


@dataclass(frozen=True)
class AccountStatement:
    account: str
    opening: int
    movements: list[Movement]
    closing: int

    @property
    def label(self):
        return ACCOUNT_LABELS[self.account]

    @property
    def incoming(self) -> int:
        return sum(m.incoming for m in self.movements)

    @property
    def outgoing(self) -> int:
        return sum(m.outgoing for m in self.movements)


@dataclass(frozen=True)
class Statement:
    first: date
    last: date
    accounts: list[AccountStatement]

    def account(self, kind: str) -> AccountStatement:
        return next(a for a in self.accounts if a.account == kind)


def parse_dates(args: Mapping[str, str], today: date | None = None) -> tuple[date, date]:
    """The statement's days (Bishkek), this month so far by default; raises Invalid per field."""
    today = today or local_today()
    if not args.get("from") and not args.get("to"):
        return today.replace(day=1), today
    errors: dict[str, Any] = {}
    try:
        first = date.fromisoformat(args.get("from", ""))
    except ValueError:
        first, errors["from"] = None, _l("Enter the first day, for example 2026-11-01.")
    try:
        last = date.fromisoformat(args.get("to", ""))
    except ValueError:
        last, errors["to"] = None, _l("Enter the last day, for example 2026-11-30.")
    if first and last and first > last:
        errors["to"] = _l("The last day must not be before the first day.")
    elif first and last and (last - first).days + 1 > STATEMENT_MAX_DAYS:
        errors["to"] = _l("Choose at most %(days)d days.", days=STATEMENT_MAX_DAYS)
    if errors:
        raise Invalid(errors)
    return first, last


def _accounts(merchant_id: int):
    return (LedgerAccount.merchant_id == merchant_id) & LedgerAccount.kind.in_(STATEMENT_ACCOUNTS)


def statement(merchant_id: int, first: date, last: date) -> Statement:
    """Opening balance, movements per kind and closing balance of each statement account.

    opening = balance now − everything posted since the first day; closing = opening + movements of
    the period. Reading backwards from the kept balance makes a recent statement cheap however old
    the account is.
    """
    start, end = range_bounds_utc(first, last)
    in_period = case((LedgerEntry.created_at < end, literal(1)), else_=literal(2))
    since_start = (select(LedgerEntry.account_id, LedgerTransfer.kind, in_period.label("part"),
                          func.sum(case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0)),
                          func.sum(case((LedgerEntry.amount < 0, -LedgerEntry.amount), else_=0)),
                          func.count())
                   .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
                   .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                   .where(_accounts(merchant_id), LedgerEntry.created_at >= start)
                   .group_by(LedgerEntry.account_id, LedgerTransfer.kind, in_period))
    balances = select(LedgerAccount.id, LedgerAccount.kind, literal(0), LedgerAccount.balance, literal(0),
                      literal(0)).where(_accounts(merchant_id))
    rows = db.session.execute(union_all(balances, since_start)).all()
    kinds = {acc_id: kind for acc_id, kind, part, *_ in rows if part == 0}
    result = []
    for account in STATEMENT_ACCOUNTS:
        ids = {i for i, k in kinds.items() if k == account}
        balance = sum(int(r[3]) for r in rows if r[2] == 0 and r[0] in ids)
        later = sum(int(r[3]) - int(r[4]) for r in rows if r[2] != 0 and r[0] in ids)
        movements = sorted((Movement(r[1], int(r[3]), int(r[4]), int(r[5]))
                            for r in rows if r[2] == 1 and r[0] in ids), key=lambda m: m.kind)
        opening = balance - later
        closing = opening + sum(m.incoming - m.outgoing for m in movements)
        result.append(AccountStatement(account, opening, movements, closing))
    return Statement(first, last, result)


@dataclass(frozen=True)
class EntryRow:
    id: int
    created_at: datetime
    account: str
    kind: str
    amount: int
    payment_public_id: str | None

    @property
    def label(self):
        return movement_label(self.kind)


def iter_entries(merchant_id: int, first: date, last: date, account: str, *, newest_first: bool = False,
                 limit: int | None = None,
                 between_batches: Callable[[int], None] | None = None) -> Iterator[EntryRow]:
    """The account's entries of the period, in keyset batches (time order, or newest first)."""
    start, end = range_bounds_utc(first, last)
    base = (select(LedgerEntry.id, LedgerEntry.created_at, LedgerAccount.kind, LedgerTransfer.kind,
                   LedgerEntry.amount, Payment.public_id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
            .outerjoin(Payment, Payment.id == LedgerTransfer.payment_id)
            .where(LedgerAccount.merchant_id == merchant_id, LedgerAccount.kind == account,
                   LedgerEntry.created_at >= start, LedgerEntry.created_at < end))
    if newest_first:
        order, after = (LedgerEntry.created_at.desc(), LedgerEntry.id.desc()), _before
    else:
        order, after = (LedgerEntry.created_at, LedgerEntry.id), _after
    size = min(limit, BATCH_ROWS) if limit else BATCH_ROWS
    cursor, done = None, 0
    while True:
        stmt = base if cursor is None else base.where(after(cursor))
        rows = db.session.execute(stmt.order_by(*order).limit(size)).all()
        for row in rows:
            yield EntryRow(*row)
        done += len(rows)
        if len(rows) < size or (limit and done >= limit):
            return
        cursor = (rows[-1][1], rows[-1][0])
        if between_batches is not None:
            between_batches(done)


def _after(cursor):
    return or_(LedgerEntry.created_at > cursor[0], and_(LedgerEntry.created_at == cursor[0],
                                                        LedgerEntry.id > cursor[1]))


def _before(cursor):
    return or_(LedgerEntry.created_at < cursor[0], and_(LedgerEntry.created_at == cursor[0],
                                                        LedgerEntry.id < cursor[1]))


def count_entries(merchant_id: int, first: date, last: date) -> int:
    start, end = range_bounds_utc(first, last)
    return int(db.session.scalar(
        select(func.count()).select_from(LedgerEntry)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(_accounts(merchant_id), LedgerEntry.created_at >= start, LedgerEntry.created_at < end)))

