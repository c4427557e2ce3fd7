"""Status enums: one place for each status's values, words and moves; the CHECK constraints follow them."""
from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint

from mkassa.extensions import db
from mkassa.models.api import CallbackStatus
from mkassa.models.payment import PaymentStatus
from mkassa.models.payout import IN_FLIGHT, PayoutStatus, SandboxPayoutStatus
from mkassa.models.refund import RefundStatus, SandboxRefundStatus
from mkassa.models.report import ExportStatus
from mkassa.models.status import Status
from mkassa.models.system import IdempotencyStatus, OutboxStatus
from mkassa.templating import STATUS_KINDS

# table → the enum its status column holds
COLUMNS = {"payment": PaymentStatus, "payment_day": PaymentStatus, "payment_hour": PaymentStatus, "payout": PayoutStatus,
           "sandbox_bank_payout": SandboxPayoutStatus, "outbox_message": OutboxStatus, "export_job": ExportStatus,
           "idempotency_key": IdempotencyStatus, "api_callback": CallbackStatus, "refund": RefundStatus,
           "sandbox_bank_refund": SandboxRefundStatus}


def _status_check(table: str) -> str:
    [check] = [c for c in db.metadata.tables[table].constraints
               if isinstance(c, CheckConstraint) and c.name == f"ck_{table}_status"]
    return str(check.sqltext)


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_each_status_column_is_checked_against_its_enum(table):
    values = ", ".join(f"'{member.value}'" for member in COLUMNS[table])
    assert _status_check(table) == f"status IN ({values})"


def test_every_status_column_has_an_enum():
    checked = {table.name for table in db.metadata.sorted_tables if "status" in table.columns}
    assert checked == set(COLUMNS)


@pytest.mark.parametrize("enum", sorted(set(COLUMNS.values()), key=lambda e: e.__name__))
def test_transitions_name_only_known_states_and_nothing_leaves_a_final_one(enum: type[Status]):
    for source, targets in enum.transitions().items():
        assert source in enum.__members__.values() and targets <= set(enum)
    assert all(isinstance(member, str) for member in enum)


@pytest.mark.parametrize("enum", sorted(set(STATUS_KINDS.values()), key=lambda e: e.__name__))
def test_every_status_people_read_has_its_words(enum: type[Status]):
    assert all(member.label for member in enum)
    assert [value for value, _label in enum.choices()] == [member.value for member in enum]


@pytest.mark.parametrize("target, sources", [
    (PayoutStatus.CONFIRMED, {"requested"}),
    (PayoutStatus.PENDING, {"confirmed"}),
    (PayoutStatus.SUCCEEDED, {"confirmed", "pending"}),
    (PayoutStatus.FAILED, {"confirmed", "pending"}),
    (PayoutStatus.REQUESTED, set()),
])
def test_a_payout_moves_only_forward(target, sources):
    assert set(PayoutStatus.sources(target)) == sources


def test_only_a_payout_in_flight_gets_the_bank_s_answer():
    final = (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)
    for status in PayoutStatus:
        assert all(status.can_become(f) for f in final) == (status in IN_FLIGHT)


def test_a_payment_leaves_pending_once_and_late_money_still_lands():
    assert PaymentStatus.sources(PaymentStatus.PENDING) == ()
    assert set(PaymentStatus.sources(PaymentStatus.SUCCEEDED)) == {"pending", "failed", "expired", "cancelled"}
    assert not PaymentStatus.SUCCEEDED.can_become(PaymentStatus.CANCELLED)
