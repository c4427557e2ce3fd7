"""Which of a merchant's rows a user may see: one explicit rule per model, for requests and jobs alike.

`security.scoped()` (views, the current user) and background jobs (the user who asked, e.g. an export
job's) build their SELECTs here, so a job never sees more than its user would in a request. Every
model with a `merchant_id` is registered in `RULES` (a unit test walks the mappers); a model that is
not is refused with `Unscoped` instead of guessed from its columns, so adding a column such as
`cashier_id` to a model never silently changes who sees its rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import ColumnElement, Select, bindparam, false, select

from .models import (ApiCallback, ApiKey, AuditEvent, ExportJob, LedgerAccount, LedgerTransfer, Payment, PaymentDay,
                     PaymentHour, PaymentReservation, Payout, Point, Refund, Shift, User)

# A condition on the model's rows, given the user who reads them.
Condition = Callable[[User], ColumnElement[bool]]


class Unscoped(LookupError):
    """The model has no access rule: a programming error, never a user's mistake."""


@dataclass(frozen=True)
class Rule:
    """Within their merchant, which rows an owner and a cashier see (bank staff see every row).

    `everyone`: a further condition for owners and cashiers alike; `cashier`: one for cashiers only.
    None: no further condition (the whole merchant)."""
    cashier: Condition | None = None
    everyone: Condition | None = None


def _owners_only(_user: User) -> ColumnElement[bool]:
    return false()


MERCHANT_WIDE = Rule()
OWNER_ONLY = Rule(cashier=_owners_only)

RULES: dict[type, Rule] = {
    # A cashier works with their own payments and shifts (M10), and reports on them only.
    Payment: Rule(cashier=lambda u: Payment.cashier_id == u.id),
    # A refund is seen with its payment: a cashier sees the refunds of their own payments.
    Refund: Rule(cashier=lambda u: Refund.payment_id.in_(select(Payment.id).where(Payment.cashier_id == u.id))),
    PaymentDay: Rule(cashier=lambda u: PaymentDay.cashier_id == u.id),
    # Every cashier's takings of the hour together: owners only (a cashier's report reads their payments).
    PaymentHour: OWNER_ONLY,
    Shift: Rule(cashier=lambda u: Shift.cashier_id == u.id),
    # A cashier prints the sticker of the counter they work at, not the other points' ones.
    Point: Rule(cashier=lambda u: Point.id == u.point_id),
    # A cashier manages nobody: they see their own account only.
    User: Rule(cashier=lambda u: User.id == u.id),
    # An export belongs to whoever asked for it, owner or cashier.
    ExportJob: Rule(everyone=lambda u: ExportJob.user_id == u.id),
    # Reserved offline payment ids are the user's they were handed to, owner or cashier.
    PaymentReservation: Rule(everyone=lambda u: PaymentReservation.user_id == u.id),
    # Money and the merchant's log are the owner's (withdrawals, account, statement).
    Payout: OWNER_ONLY,
    LedgerAccount: OWNER_ONLY,
    LedgerTransfer: OWNER_ONLY,
    AuditEvent: OWNER_ONLY,
    # Partner API keys and their callbacks are the owner's (profile, API keys).
    ApiKey: OWNER_ONLY,
    ApiCallback: OWNER_ONLY,
}

# What a partner's API key sees (#18): its merchant's rows, and with a point key only that point's.
# One explicit rule per model the API reads; any other model is refused (Unscoped).
KeyCondition = Callable[[Any], ColumnElement[bool]]
API_POINT_RULES: dict[type, KeyCondition] = {
    Payment: lambda key: Payment.point_id == key.point_id,
    Point: lambda key: Point.id == key.point_id,
    ApiCallback: lambda key: ApiCallback.api_key_id == key.id,
}


def rule_for(model: type) -> Rule:
    try:
        return RULES[model]
    except KeyError:
        raise Unscoped(f"{model.__name__} has no access rule in mkassa.scope.RULES") from None


class _Reader:
    """The user the rules read, their ids as bound parameters named in `PARAMS`: a statement built from
    one user's scope is then every user's of the same kind (`kind`), given their `params` when it runs
    (security.prepared builds a screen's statements once that way)."""

    __slots__ = ("id", "merchant_id", "point_id", "is_cashier")

    def __init__(self, user: User) -> None:
        self.is_cashier = user.is_cashier
        self.id = bindparam("scope_user_id", user.id)
        self.merchant_id = bindparam("scope_merchant_id", user.merchant_id)
        self.point_id = bindparam("scope_point_id", user.point_id)


PARAMS = ("scope_user_id", "scope_merchant_id", "scope_point_id")


def params(user: User) -> dict[str, Any]:
    """The values of a scope's bound parameters for `user`."""
    return {"scope_user_id": user.id, "scope_merchant_id": user.merchant_id, "scope_point_id": user.point_id}


def kind(user: User) -> str:
    """Users whose scopes are the same statement (with their own `params`)."""
    return "admin" if user.is_admin else "cashier" if user.is_cashier else "owner"


def select_for(model: Any, user: User) -> Select:
    """SELECT of `model` limited to what `user` may see (merchant, then the model's rule)."""
    rule = rule_for(model)
    stmt = select(model)
    if user.is_admin:
        return stmt
    user = _Reader(user)
    stmt = stmt.where(model.merchant_id == user.merchant_id)
    if rule.everyone is not None:
        stmt = stmt.where(rule.everyone(user))
    if user.is_cashier and rule.cashier is not None:
        stmt = stmt.where(rule.cashier(user))
    return stmt


def select_for_key(model: Any, key: Any) -> Select:
    """SELECT of `model` limited to what the API key `key` may see (merchant, then its point)."""
    if model not in API_POINT_RULES:
        raise Unscoped(f"{model.__name__} has no API rule in mkassa.scope.API_POINT_RULES")
    stmt = select(model).where(model.merchant_id == key.merchant_id)
    if key.point_id is not None:
        stmt = stmt.where(API_POINT_RULES[model](key))
    return stmt
