"""The payment_day rollup (issue #7) equals a GROUP BY over payments: after any sequence of creations,
transitions and rolled-back savepoints, and under concurrent writers on one merchant's one day."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import Payment, PaymentDay, User
from mkassa.models.payment import METHODS
from mkassa.services import payments, rollup
from mkassa.services.payments import ALLOWED
from mkassa.timeutil import BISHKEK, local_day

# Around a Bishkek midnight (18:00 UTC): payments land on both sides of the day boundary.
MIDNIGHT = datetime(2026, 11, 26, 0, 0, tzinfo=BISHKEK).astimezone(timezone.utc)
THREADS = 40
REPETITIONS = 5

create = st.tuples(st.just("create"), st.integers(-3 * 3600, 3 * 3600), st.integers(0, 3), st.integers(0, 3),
                   st.sampled_from(METHODS), st.integers(1, 10**9))
move = st.tuples(st.just("move"), st.integers(0, 10**6), st.integers(0, 10**6))
crash = st.tuples(st.just("crash"), st.integers(0, 10**6), st.integers(0, 10**6))
operations = st.lists(st.one_of(create, move, crash), min_size=1, max_size=40)


def test_local_day_is_the_bishkek_calendar_day():
    assert local_day(MIDNIGHT) == MIDNIGHT.astimezone(BISHKEK).date()
    assert local_day(MIDNIGHT - timedelta(microseconds=1)) == MIDNIGHT.astimezone(BISHKEK).date() - timedelta(days=1)


# Each example uses the database: 60 under the `ci` profile, 12 under `dev` (tests/conftest.py).
@settings(max_examples=settings().max_examples * 3 // 5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_rollup_equals_a_group_by_over_payments(demo, ops):
    """Each example runs in one transaction, rolled back at the end; the rollup is checked after every step."""
    points = [None, *(p.id for p in demo.points[:2])]
    cashiers = [None, demo.cashier.id, demo.cashier2.id]
    created: list[Payment] = []
    try:
        for op in ops:
            if op[0] == "create":
                _kind, seconds, point, cashier, method, amount = op
                payment = Payment(merchant_id=demo.merchant.id, point_id=points[point % len(points)],
                                  cashier_id=cashiers[cashier % len(cashiers)], method=method, amount=amount,
                                  status="pending", created_at=MIDNIGHT + timedelta(seconds=seconds))
                db.session.add(payment)
                db.session.flush()
                created.append(payment)
            elif created:
                _kind, which, target = op
                payment = created[which % len(created)]
                targets = sorted(ALLOWED.get(payment.status, ()))
                if not targets:
                    continue
                if op[0] == "move":
                    payments.transition(payment, targets[target % len(targets)])
                    db.session.flush()
                else:  # a crash: the change is made and flushed, then its savepoint rolls back
                    savepoint = db.session.begin_nested()
                    payments.transition(payment, targets[target % len(targets)])
                    db.session.add(Payment(merchant_id=demo.merchant.id, method="qr", amount=1, status="pending",
                                           created_at=MIDNIGHT))
                    db.session.flush()
                    savepoint.rollback()
            assert rollup.differences(db.session) == []
    finally:
        db.session.rollback()


def test_demo_data_and_bulk_loads_are_rolled_up(demo):
    from mkassa.services import bigdata
    assert rollup.differences(db.session) == []
    assert db.session.scalar(select(func.count()).select_from(PaymentDay)) > 0
    result = bigdata.generate(500, days=20, points=2, cashiers_per_point=2)
    assert rollup.differences(db.session) == []
    # Rows of the bulk load change through the ORM afterwards: late money for failed payments.
    for payment in db.session.scalars(select(Payment).where(Payment.merchant_id == result.merchant_id,
                                                            Payment.status == "failed")):
        payments.transition(payment, "succeeded")
    db.session.commit()
    assert rollup.differences(db.session) == []


@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_concurrent_writers_keep_the_counts_exact(app, demo, repetition):
    """THREADS writers at once on one merchant, one point, one cashier, one day: every one of them
    creates a payment (own transaction), then moves it to a final status (another transaction)."""
    merchant_id, point_id, cashier_id = demo.merchant.id, demo.cashier.point_id, demo.cashier.id
    before = _day_counts(merchant_id)
    barrier = threading.Barrier(THREADS)
    finals: list[str] = []
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            with app.app_context():
                payment = Payment(merchant_id=merchant_id, point_id=point_id, cashier_id=cashier_id, method="qr",
                                  amount=100 + seed, status="pending", created_at=MIDNIGHT + timedelta(hours=1))
                db.session.add(payment)
                db.session.commit()
                target = rng.choice(sorted(ALLOWED["pending"]))
                payments.transition(db.session.get(Payment, payment.id), target)
                db.session.commit()
                finals.append(target)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(repetition * THREADS + i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.commit()
    after = _day_counts(merchant_id)
    for status in set(finals):
        assert after.get(status, 0) - before.get(status, 0) == finals.count(status)
    assert after.get("pending", 0) == before.get("pending", 0)
    assert rollup.differences(db.session) == []
    assert db.session.scalar(select(func.count()).select_from(User).where(User.id == cashier_id)) == 1


def _day_counts(merchant_id: int) -> dict[str, int]:
    day = local_day(MIDNIGHT + timedelta(hours=1))
    rows = db.session.execute(select(PaymentDay.status, func.sum(PaymentDay.count))
                              .where(PaymentDay.merchant_id == merchant_id, PaymentDay.day == day)
                              .group_by(PaymentDay.status))
    return {status: int(count) for status, count in rows}


def test_migration_backfills_the_rollup_from_existing_payments(make_app, scratch_database_url):
    """0009 on a database that already holds payments: the rollup it builds is exact."""
    from flask_migrate import downgrade, upgrade

    from mkassa.services import bigdata, demo
    app = make_app(database_url=scratch_database_url)
    with app.app_context():
        upgrade()
        demo.seed(payments=40)
        bigdata.generate(400, days=10, points=2, cashiers_per_point=2)
        db.session.commit()
        expected = db.session.scalar(select(func.sum(PaymentDay.count)))
        db.session.remove()
        downgrade(revision="0008")
        upgrade()
        assert db.session.scalar(select(func.sum(PaymentDay.count))) == expected
        assert rollup.differences(db.session) == []
        db.session.remove()
