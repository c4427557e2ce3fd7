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
from mkassa.models import Payment, PaymentDay, PaymentHour, User
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


# ------------------------------------------------------------------------- the periodic check


def _around_the_listener(demo, now: datetime, created_at: datetime) -> None:
    """Payments written as code without the rollups writes them (old code during a deploy, raw SQL):
    one inserted, one moved from pending to succeeded."""
    from sqlalchemy import insert, update
    pending = Payment(merchant_id=demo.merchant.id, cashier_id=demo.cashier.id, method="qr", amount=4_200,
                      status="pending", created_at=created_at)
    db.session.add(pending)
    db.session.commit()
    db.session.execute(update(Payment.__table__).where(Payment.__table__.c.id == pending.id)
                       .values(status="succeeded", paid_at=now))
    db.session.execute(insert(Payment.__table__).values(
        public_id=f"AROUND{pending.id:020d}", receipt_token=f"around-{pending.id}", merchant_id=demo.merchant.id,
        cashier_id=demo.cashier2.id, method="card", link_type="dynamic", amount=7_700, currency="417",
        status="succeeded", created_at=created_at, paid_at=now, flagged=False))
    db.session.commit()


def test_check_rebuilds_rollups_that_payments_went_around(demo):
    now = datetime.now(timezone.utc)
    _around_the_listener(demo, now, now - timedelta(minutes=5))
    since = rollup.window_start(now)
    assert len(rollup.differences(db.session, since)) >= 4  # day and hour rows: pending -1, succeeded +2
    db.session.commit()
    assert rollup.check_rollups(now) >= 4
    assert rollup.differences(db.session) == []
    # Exact now: the next check finds nothing and leaves the rows as they are (no rebuild).
    ids = set(db.session.scalars(select(PaymentHour.id)))
    db.session.commit()
    assert rollup.check_rollups(now) == 0
    assert set(db.session.scalars(select(PaymentHour.id))) == ids


def test_the_check_looks_back_its_window_and_the_command_further(app, demo):
    now = datetime.now(timezone.utc)
    old = rollup.window_start(now) - timedelta(hours=1)  # the day before the periodic check's window
    _around_the_listener(demo, now, old)
    assert rollup.check_rollups(now) == 0  # outside its window: left alone
    assert rollup.differences(db.session) != []
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["rollup", "check", "--days", str(rollup.CHECK_DAYS + 1)])
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    db.session.expire_all()
    assert rollup.differences(db.session) == []
    assert app.test_cli_runner().invoke(args=["rollup", "check"]).output.strip() == "rollups exact"


def test_a_repair_waits_for_a_writer_and_counts_its_change_once(app, demo):
    """A payment moving while the rollups are rebuilt: the rebuild waits for its transaction, then its
    delta lands once (PostgreSQL: the table lock; SQLite: the write lock)."""
    now = datetime.now(timezone.utc)
    payment = Payment(merchant_id=demo.merchant.id, cashier_id=demo.cashier.id, method="qr", amount=5_500,
                      status="pending", created_at=now - timedelta(minutes=1))
    db.session.add(payment)
    db.session.commit()
    payment_id = payment.id
    moved, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with app.app_context():
                payments.transition(db.session.get(Payment, payment_id), "succeeded")
                db.session.flush()  # its rollup rows written and locked, not committed
                moved.set()
                release.wait(10)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            moved.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert moved.wait(10)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    try:
        with app.app_context():
            rollup.repair(db.session, rollup.window_start(now))
            db.session.commit()
            db.session.remove()
    finally:
        release.set()
        thread.join(10)
        timer.cancel()
    assert errors == []
    db.session.expire_all()
    assert rollup.differences(db.session) == []
