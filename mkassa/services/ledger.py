"""Posting to the double-entry ledger (see models.ledger for the invariants it keeps)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import LedgerAccount, LedgerEntry, LedgerTransfer, utcnow
from ..models.ledger import BANK_ACCOUNT_KINDS, BANK_STRIPES, MERCHANT_ACCOUNT_KINDS
from . import hotrows, upsert


class LedgerError(Exception):
    pass


class UnbalancedTransfer(LedgerError):
    pass


class InsufficientFunds(LedgerError):
    """A merchant account would go below zero (or a balance past money.MAX_BALANCE); the database refused it."""


def account_code(kind: str, merchant_id: int | None = None, spread: int = 0) -> str:
    """A merchant's account of that kind; or the row of a Bank account kind that `spread` picks (see
    models.ledger.BANK_STRIPES; row 0 keeps the kind's plain code)."""
    if merchant_id is not None:
        return f"m{merchant_id}:{kind}"
    stripe = spread % BANK_STRIPES
    return f"bank:{kind}" if stripe == 0 else f"bank:{kind}:{stripe}"


def get_account(kind: str, merchant_id: int | None = None, *, spread: int = 0) -> LedgerAccount:
    """The account of that kind, created on first use (merchant accounts exist from onboarding). A
    Bank account kind is kept in BANK_STRIPES rows: `spread`, the id of what moves the money, picks one,
    so that concurrent movements of different payments (or payouts, refunds) do not queue on one row."""
    if (merchant_id is None) != (kind in BANK_ACCOUNT_KINDS):
        raise LedgerError(f"account kind {kind!r} does not fit merchant {merchant_id!r}")
    code = account_code(kind, merchant_id, spread)
    acc = db.session.scalar(select(LedgerAccount).where(LedgerAccount.code == code))
    if acc is None:
        acc = LedgerAccount(code=code, kind=kind, merchant_id=merchant_id, balance=0)
        try:
            with db.session.begin_nested():
                db.session.add(acc)
        except IntegrityError:  # created meanwhile by a concurrent transaction
            acc = db.session.scalar(select(LedgerAccount).where(LedgerAccount.code == code))
    return acc


_BY_CODES = select(LedgerAccount).where(LedgerAccount.code.in_(bindparam("codes", expanding=True)))  # built once


def get_accounts(*specs: tuple[str, int | None], spread: int = 0) -> list[LedgerAccount]:
    """The accounts of several (kind, merchant_id) pairs, in that order, read in one round trip (a
    transfer's legs: a webhook's credit reads the Bank's and the merchant's account together); `spread`
    picks the rows of Bank accounts, as in get_account."""
    codes = [account_code(kind, merchant_id, spread) for kind, merchant_id in specs]
    found = {acc.code: acc for acc in db.session.scalars(_BY_CODES, {"codes": codes})}
    # Any not there yet is created (and its kind checked) as get_account does.
    return [found.get(code) or get_account(kind, merchant_id, spread=spread)
            for code, (kind, merchant_id) in zip(codes, specs)]


def open_merchant_accounts(merchant_id: int) -> None:
    for kind in MERCHANT_ACCOUNT_KINDS:
        get_account(kind, merchant_id)


# A transfer's statements, built once: Core on the tables (compiled once per process), not the ORM's
# unit of work or its bulk UPDATE, which cost a webhook's ingest more Python than all its SQL.
_TRANSFER = upsert.insert_unless_exists(LedgerTransfer.__table__,
                                        ["code", "kind", "merchant_id", "payment_id", "memo", "created_at"],
                                        ["code"], returning="id")
_ENTRIES, _ENTRY_COLUMNS = LedgerEntry.__table__, ("transfer_id", "account_id", "amount", "created_at")
_ACCOUNTS = LedgerAccount.__table__
_MOVE = (update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account"))
         .values(balance=_ACCOUNTS.c.balance + bindparam("amount", type_=_ACCOUNTS.c.balance.type)))


def post(code: str, kind: str, legs: list[tuple[LedgerAccount, int]], *, merchant_id: int | None = None,
         payment_id: int | None = None, memo: str | None = None,
         at: datetime | None = None) -> int | None:
    """Post one balanced transfer; returns its id, or None if `code` was already posted (a replay).

    Balances move by guarded UPDATEs in the same transaction, never read-then-write in Python, so
    concurrent posts cannot lose an update; the CHECK constraint turns an overdraft into
    InsufficientFunds and the savepoint undoes the whole transfer.

    Round trips are counted (a webhook's ingest posts one): the transfer row is inserted unless its
    code exists (ON CONFLICT DO NOTHING: a replay, or a racing twin we waited for, inserts nothing),
    the entries go in one INSERT, and the balances move in one executemany, in account id order so
    that two transfers over the same accounts lock them in the same order. Inside a hotrows.last()
    block they move when the block ends, and an overdraft is raised there.

    The new balances are not written into the session: the accounts' `balance` is expired, so the
    next read comes from the database. A value set here would outlive a rollback of a savepoint the
    caller opened around this post (the session does not undo values it was told were committed).
    """
    if sum(amount for _, amount in legs) != 0 or any(amount == 0 for _, amount in legs):
        raise UnbalancedTransfer(f"transfer {code}: legs must be non-zero and sum to zero")
    at = at or utcnow()
    try:
        with db.session.begin_nested():
            transfer_id = upsert.run(_TRANSFER, {"code": code, "kind": kind, "merchant_id": merchant_id,
                                                 "payment_id": payment_id, "memo": memo,
                                                 "created_at": at}).scalar()
            if transfer_id is None:
                return None
            entries = [{"transfer_id": transfer_id, "account_id": acc.id, "amount": amount, "created_at": at}
                       for acc, amount in legs]
            upsert.run(upsert.insert_rows(_ENTRIES, _ENTRY_COLUMNS, len(legs)), upsert.numbered(entries))
            moves = [{"account": acc.id, "amount": amount} for acc, amount in sorted(legs, key=lambda leg: leg[0].id)]
            hotrows.write(db.session(), HOT_ORDER, _move_balances, (code, moves))
            for acc, _ in legs:
                db.session.expire(acc, ["balance"])
    except IntegrityError as exc:
        raise InsufficientFunds(code) from exc
    return transfer_id


HOT_ORDER = 1  # held balance moves are written after held rollup deltas (services.hotrows)


def _move_balances(session, held: list[tuple[str, list[dict]]]) -> None:
    """The balance moves of one transfer, or of a hotrows.last() block's transfers, in one executemany,
    in account id order (stable: an account's moves keep their order, so its CHECK sees the balances
    it would have seen); an overdraft is InsufficientFunds."""
    moves = sorted((move for _, transfer in held for move in transfer), key=lambda move: move["account"])
    try:
        session.execute(_MOVE, moves)
    except IntegrityError as exc:
        raise InsufficientFunds(", ".join(code for code, _ in held)) from exc


def balances(merchant_id: int) -> dict[str, int]:
    rows = db.session.execute(select(LedgerAccount.kind, LedgerAccount.balance)
                              .where(LedgerAccount.merchant_id == merchant_id)).all()
    result = {kind: 0 for kind in MERCHANT_ACCOUNT_KINDS}
    result.update({kind: balance for kind, balance in rows})
    return result


def total_sum() -> int:
    """Sum over all accounts: zero whenever money is conserved."""
    return int(db.session.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0))))


def entries_sum_matches_balances() -> bool:
    """Every kept balance equals the sum of its entries (the append-only history). Both are read as
    columns, fresh from the database, never from accounts the session already holds."""
    sums = dict(db.session.execute(select(LedgerEntry.account_id, func.sum(LedgerEntry.amount))
                                   .group_by(LedgerEntry.account_id)).all())
    kept = db.session.execute(select(LedgerAccount.id, LedgerAccount.balance)).all()
    return all(sums.get(account_id, 0) == balance for account_id, balance in kept)
