"""Records that must outlive a failing request: a wrong PIN or code, a spent passkey challenge, a
refused webhook — kept, and nothing else of the request.

A request commits once, in its after_request hook, and rolls back on an answer of 400 or more. A
wrong PIN fails the request, yet its try must count. Committing where it fails would also commit
whatever the caller had flushed before; so a service does this instead:

    mark = durable.mark()       # before the work to keep (and before it takes its row lock)
    ...lock, count, check...    # flushed into the request's transaction as usual
    durable.keep(mark, redo)    # then raise

`keep` commits only the work done since `mark`:

- When the transaction held nothing of the caller's at `mark` (the usual case: these services run
  before anything else is written), it is committed in place — under the row lock the service
  took, so a parallel try waits for the committed count (exactly MAX tries are ever evaluated).
- Otherwise the caller's work must not be committed with it. The transaction is rolled back (the
  request fails anyway), `redo()` writes the record again in a fresh transaction — re-taking its
  row lock — and that is committed alone.

Why not a second connection for the record: on SQLite the request's connection holds the
database's write lock from its first statement (BEGIN IMMEDIATE), so another connection cannot
write until it ends; on PostgreSQL the record updates the very rows the request has locked (the
device, the one-time code), so a second connection would wait for its own request forever. Why not
a savepoint: the caller's work comes before the record, and rolling back to a savepoint taken
before it would also release, on PostgreSQL, the row lock taken after it. Rolling back first and
writing the record alone works the same on both databases; in place when nothing else is pending
also keeps the lock from the count to the commit. Only in the rolled-back case is the row lock let
go between the rollback and the redo: a parallel try may then be evaluated against the count
without this one (the counts still end right, capped at their limit) — the price of not
committing the caller's work, paid only by a caller that wrote something first.

"The caller's work" is anything added, changed or deleted in the session or written through an
ORM INSERT/UPDATE/DELETE since the transaction began (tracked by the session events below; raw
`text()` SQL is not seen, so the code that writes that way — services.upsert — calls `wrote()`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from .extensions import db

_WROTE = "mkassa.wrote"


@dataclass(frozen=True)
class Mark:
    clean: bool  # nothing of the caller's was pending or flushed when the record began


def mark() -> Mark:
    """Call before the work that must be kept although the request fails."""
    session = db.session()
    return Mark(clean=not (session.info.get(_WROTE) or session.new or session.dirty or session.deleted))


def wrote() -> None:
    """Count a write the session's events cannot see (SQL text) as the caller's work."""
    db.session().info[_WROTE] = True


def keep(mark: Mark, redo: Callable[[], object]) -> None:
    """Commit the work done since `mark` and nothing else (see the module's docstring). `redo`
    writes that work again, alone, when the caller's earlier work had to be rolled back."""
    if mark.clean:
        db.session.commit()
    else:
        write_alone(redo)


def write_alone(work: Callable[[], object]) -> None:
    """Roll back the request's transaction, then do `work` in a fresh one and commit only that."""
    db.session.rollback()
    work()
    db.session.commit()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    if session.new or session.dirty or session.deleted:
        session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_WROTE, None)
