"""Writes to the rows that many transactions share, held back to the end of a unit of work.

Every payment of a shop moves the same few rows: its ledger balances (services.ledger) and the
rollup counters of its hour and of its cashier's day (services.rollup). On PostgreSQL the first such
UPDATE takes the row's lock, and every other payment of the shop waits for it until COMMIT. Written
where they arise, they were taken in the middle of a webhook's work: ten statements and all the
Python between them ran with the shop's rows locked, and the shop's payments were credited one
after the other at that pace (bench_webhooks: 4 deliveries in flight, 37% of the CPU idle).

Those writers go through `write`; inside `last()` it holds their work instead, and it is written when the block ends,
in one go: the rollups in key order, then the balances in account id order (the order the writers
use outside the block too, so two transactions never lock them in opposite orders). The locks are
then held from there to COMMIT only.

What holds inside the block:
- A balance or a rollup row read there does not yet show what the block has moved.
- An overdraft (the accounts' CHECK constraint) surfaces as ledger.InsufficientFunds when the block
  ends, not where ledger.post was called: a caller that catches it to refuse something (a payout's
  or a refund's reserve) must not run inside the block.
- A savepoint rolled back inside the block takes its held writes with it (the session's
  after_soft_rollback below), as it takes the rows they account for.
- The block must end before the transaction commits; a commit with writes still held is a bug
  and is refused.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ..extensions import db

_KEY = "mkassa.hot_rows"

# A writer gets the payloads held for it, in the order they were held, and writes them together.
Writer = Callable[[Session, list[Any]], None]


@dataclass
class _Held:
    transaction: SessionTransaction  # the innermost savepoint (or the transaction) it was held in
    order: int
    writer: Writer
    payload: Any


@dataclass
class _Block:
    held: list[_Held] = field(default_factory=list)
    open: bool = True


def write(session: Session, order: int, writer: Writer, payload: Any) -> None:
    """Write `payload` with `writer` now, or, inside a `last()` block on this session, when the block
    ends: then writers run in increasing `order`, each once with all the payloads held for it."""
    block = session.info.get(_KEY)
    if block is None or not block.open:
        writer(session, [payload])
        return
    transaction = session.get_nested_transaction() or session.get_transaction()
    block.held.append(_Held(transaction, order, writer, payload))


@contextmanager
def last() -> Iterator[None]:
    """Hold the hot rows' writes of the block and write them as it ends (see the module's docstring).
    A block inside another adds to the outer one.

    An exception out of the block writes nothing; what it held stays on record until a rollback
    takes it (the request's, or a savepoint's around the block). The caller that catches the
    exception and commits anyway is refused: its payments would be missing from the rollups and
    its transfers from the balances."""
    session = db.session()
    block = session.info.get(_KEY)
    if block is not None and block.open:
        yield
        return
    if block is not None and block.held:
        raise RuntimeError("hotrows.last() after a failed block whose writes no rollback has taken")
    block = session.info[_KEY] = _Block()
    try:
        yield
        session.flush()  # what is still pending holds its rollup deltas too
    except BaseException:
        block.open = False
        raise
    session.info.pop(_KEY, None)  # from here, a writer's own flush writes at once
    by_writer: dict[Writer, list[Any]] = {}
    for held in sorted(block.held, key=lambda h: h.order):  # stable: within a writer, as held
        by_writer.setdefault(held.writer, []).append(held.payload)
    for writer, payloads in by_writer.items():
        writer(session, payloads)


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, rolled_back: SessionTransaction) -> None:
    block = session.info.get(_KEY)
    if block is None:
        return
    block.held = [h for h in block.held if not _within(h.transaction, rolled_back)]
    if not block.open and not block.held:
        del session.info[_KEY]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction itself, however it ended (a closed session too)
        session.info.pop(_KEY, None)


@event.listens_for(Session, "before_commit")
def _refuse_commit_while_held(session: Session) -> None:
    # Fired by a savepoint's release too: only the transaction's own commit is refused.
    block = session.info.get(_KEY)
    if block is not None and block.held and session.get_nested_transaction() is None:
        raise RuntimeError("a commit with hotrows.last() writes held: they would be left out")
