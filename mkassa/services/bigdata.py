"""A large, realistic data set for load checks: `flask demo bigdata --payments 1000000`.

One merchant ("Big Bazaar", owner login `big`, cashiers `big-c1`…) with several points and cashiers,
a year of payments with a daily rhythm, mixed methods and statuses, and its ledger: each paid payment
credited to "in processing" and settled to "available" half an hour later, and a weekly withdrawal.
Rows go in by SQLAlchemy Core bulk inserts (executemany) with ids assigned here, in one transaction,
so a million payments take minutes (the payment_day rollup gets one grouped INSERT at the end); balances are set from the entries at the end, so the kept
balances equal the sums of their entries, as if every posting had gone through services.ledger.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, insert, select, text, update
from ulid import ULID

from ..extensions import db
from ..models import LedgerAccount, LedgerEntry, LedgerTransfer, Merchant, Payment, Point, User, utcnow
from ..timeutil import BISHKEK
from . import auth, ledger, rollup

BIG_LOGIN = "big"
BIG_PASSWORD = "demo1234"
BATCH_ROWS = 10_000
SETTLE_AFTER = timedelta(minutes=30)
# Hour-of-day weights (Bishkek): quiet mornings, a lunch peak, the evening rush.
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 1, 3, 5, 6, 7, 9, 9, 7, 6, 6, 8, 10, 10, 8, 5, 2, 1]
AMOUNTS_SOM = (50, 80, 120, 150, 250, 400, 560, 990, 1500, 2300, 4800, 12500)
PAYER_BANKS = ("MBANK", "O!Bank", "Bakai Bank", "DCB", "Optima Bank")
POINT_NAMES = ("Центральный", "Ошский базар", "Дордой", "Аламедин", "Джал", "Асанбай", "Восток-5", "Тунгуч")
# Owners withdraw this share of the available balance every Monday at 10:00.
WITHDRAW_SHARE_PERCENT = 80


@dataclass
class Generated:
    merchant_id: int
    payments: int
    succeeded: int
    transfers: int
    entries: int


class _Ids:
    """Ids handed out here so that entries can point at transfers without a round trip per row."""

    def __init__(self, table) -> None:
        self.next = int(db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))) + 1

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def _merchant(points: int, cashiers_per_point: int) -> tuple[Merchant, list[tuple[int, int]]]:
    """The big merchant (created once) and its (point id, cashier id) pairs."""
    owner = db.session.scalar(select(User).where(User.login == BIG_LOGIN))
    if owner is None:
        merchant = Merchant(legal_name="ОсОО Биг Базар", display_name="Big Bazaar", inn="01234201910123",
                            mcc="5411", account_number="1030120000099999", bank_name="Demo Commercial Bank",
                            bank_bic="103001", account_opened_on=date(2024, 1, 10), is_bank_client=True,
                            has_mpos_contract=True)
        db.session.add(merchant)
        db.session.flush()
        shops = [Point(merchant_id=merchant.id, name=POINT_NAMES[i % len(POINT_NAMES)] + (f" {i // 8 + 1}" if i >= 8 else ""),
                       address=f"Бишкек, ул. Примерная, {i + 1}") for i in range(points)]
        db.session.add_all(shops)
        db.session.flush()
        hashed = auth.hash_password(BIG_PASSWORD)
        owner = User(merchant_id=merchant.id, role="owner", login=BIG_LOGIN, password_hash=hashed,
                     name="Азамат Big", point_id=shops[0].id)
        db.session.add(owner)
        for i, shop in enumerate(shops):
            for j in range(cashiers_per_point):
                n = i * cashiers_per_point + j + 1
                db.session.add(User(merchant_id=merchant.id, role="cashier", login=f"{BIG_LOGIN}-c{n}",
                                    password_hash=hashed, name=f"Кассир {n}", point_id=shop.id))
        db.session.flush()
        ledger.open_merchant_accounts(merchant.id)
    merchant = db.session.get(Merchant, owner.merchant_id)
    people = db.session.scalars(select(User).where(User.merchant_id == merchant.id)).all()
    return merchant, [(u.point_id, u.id) for u in people]


def _timestamps(rng: random.Random, count: int, first_day: date, days: int, now: datetime) -> list[datetime]:
    hours = list(range(24))
    stamps = []
    for _ in range(count):
        day = first_day + timedelta(days=rng.randrange(days))
        hour = rng.choices(hours, HOUR_WEIGHTS)[0]
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60),
                         rng.randrange(1_000_000), tzinfo=BISHKEK)
        stamp = local.astimezone(timezone.utc)
        stamps.append(min(stamp, now - timedelta(seconds=rng.randint(60, 3600))))
    stamps.sort()
    return stamps


def generate(payments: int, *, days: int = 365, points: int = 5, cashiers_per_point: int = 3,
             rng_seed: int = 7, now: datetime | None = None,
             echo: Callable[[str], None] = lambda _msg: None) -> Generated:
    """Add `payments` payments over the last `days` Bishkek days to the big merchant. Commits."""
    rng = random.Random(rng_seed)
    now = now or utcnow()
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # Ids are assigned here: keep other writers out of these tables until the commit.
        conn.execute(text("LOCK TABLE payment, ledger_transfer, ledger_entry IN EXCLUSIVE MODE"))
    merchant, staff = _merchant(points, cashiers_per_point)
    accounts = {kind: ledger.get_account(kind, merchant.id).id for kind in ("processing", "available",
                                                                             "payout_pending")}
    accounts.update({kind: ledger.get_account(kind).id for kind in ("bank_incoming", "bank_payouts")})
    pay_ids, transfer_ids, entry_ids = _Ids(Payment.__table__), _Ids(LedgerTransfer.__table__), _Ids(LedgerEntry.__table__)
    first_payment_id = pay_ids.next
    first_day = (now.astimezone(BISHKEK) - timedelta(days=days - 1)).date()
    stamps = _timestamps(rng, payments, first_day, days, now)
    echo(f"timestamps ready ({payments})")
    batch = _Batch(conn)
    settled_by_hour: dict[datetime, int] = {}
    succeeded = 0
    for created in stamps:
        point_id, cashier_id = rng.choice(staff)
        method = "card" if rng.random() < 0.2 else "qr"
        status = rng.choices(("succeeded", "failed", "expired", "cancelled"), (85, 5, 7, 3))[0]
        amount = rng.choice(AMOUNTS_SOM) * 100 + rng.choice((0, 0, 50))
        pid = pay_ids.take()
        public_id = str(ULID.from_datetime(created))
        finished = created + timedelta(seconds=rng.randint(5, 55))
        row = dict(id=pid, public_id=public_id, merchant_id=merchant.id, point_id=point_id, cashier_id=cashier_id,
                   method=method, link_type="dynamic", amount=amount, currency="417", status=status,
                   created_at=created, expires_at=created + timedelta(seconds=60), finished_at=finished,
                   paid_at=None, settled_at=None, bank_txn_id=None, payer_bank=None, payer_name_masked=None,
                   rrn=None, auth_code=None, card_mask=None, failure_reason=None, flagged=False)
        if status == "succeeded":
            succeeded += 1
            row.update(paid_at=finished, bank_txn_id=f"big-{public_id}")
            if method == "card":
                row.update(card_mask="4169 **** **** 1234", rrn=str(rng.randint(10**11, 10**12 - 1)),
                           auth_code=f"{rng.randint(0, 999999):06d}", payer_bank="Card")
            else:
                row.update(payer_bank=rng.choice(PAYER_BANKS), payer_name_masked="А***р К.")
            batch.transfer(transfer_ids.take, entry_ids.take, f"payment:{public_id}", "payment", merchant.id, pid,
                           finished, [(accounts["bank_incoming"], -amount), (accounts["processing"], amount)])
            settle_at = finished + SETTLE_AFTER
            if settle_at < now:
                row["settled_at"] = settle_at
                batch.transfer(transfer_ids.take, entry_ids.take, f"settle:{public_id}", "settlement", merchant.id,
                               pid, settle_at, [(accounts["processing"], -amount), (accounts["available"], amount)])
                hour = settle_at.replace(minute=0, second=0, microsecond=0)
                settled_by_hour[hour] = settled_by_hour.get(hour, 0) + amount
        batch.payments.append(row)
        batch.flush_if_full()
        if pid % 100_000 == 0:
            echo(f"{pid} payments")
    _withdrawals(batch, transfer_ids.take, entry_ids.take, merchant.id, accounts, settled_by_hour, first_day, now)
    batch.flush()
    # Core inserts bypass the ORM's rollup listener: add this load to payment_day in one grouped INSERT.
    rollup.add_from_payments(db.session, Payment.merchant_id == merchant.id, Payment.id >= first_payment_id)
    _set_balances(accounts)
    if conn.dialect.name == "postgresql":
        for table in ("payment", "ledger_transfer", "ledger_entry"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))
    merchant_id = merchant.id
    db.session.commit()
    return Generated(merchant_id, payments, succeeded, batch.transfer_count, batch.entry_count)


def _withdrawals(batch, next_transfer, next_entry, merchant_id, accounts, settled_by_hour, first_day, now) -> None:
    """Every Monday 10:00 Bishkek, the owner withdraws a share of what is available at that moment."""
    hours = sorted(settled_by_hour)
    day = first_day + timedelta(days=(7 - first_day.weekday()) % 7)
    available, i = 0, 0
    while True:
        at = datetime(day.year, day.month, day.day, 10, tzinfo=BISHKEK).astimezone(timezone.utc)
        if at >= now:
            return
        while i < len(hours) and hours[i] + timedelta(hours=1) <= at:
            available += settled_by_hour[hours[i]]
            i += 1
        amount = available * WITHDRAW_SHARE_PERCENT // 100
        if amount > 0:
            code = f"big-payout:{merchant_id}:{day.isoformat()}"
            batch.transfer(next_transfer, next_entry, f"{code}:reserve", "payout_reserve", merchant_id, None, at,
                           [(accounts["available"], -amount), (accounts["payout_pending"], amount)])
            batch.transfer(next_transfer, next_entry, code, "payout", merchant_id, None, at + timedelta(minutes=3),
                           [(accounts["payout_pending"], -amount), (accounts["bank_payouts"], amount)])
            available -= amount
        day += timedelta(days=7)


class _Batch:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.payments: list[dict] = []
        self.transfers: list[dict] = []
        self.entries: list[dict] = []
        self.transfer_count = self.entry_count = 0

    def transfer(self, next_transfer, next_entry, code, kind, merchant_id, payment_id, at, legs) -> None:
        tid = next_transfer()
        self.transfers.append(dict(id=tid, code=code, kind=kind, merchant_id=merchant_id, payment_id=payment_id,
                                   created_at=at, memo=None))
        for account_id, amount in legs:
            self.entries.append(dict(id=next_entry(), transfer_id=tid, account_id=account_id, amount=amount,
                                     created_at=at))
        self.transfer_count += 1
        self.entry_count += len(legs)

    def flush_if_full(self) -> None:
        if len(self.payments) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        # Parents before children: the foreign keys are checked row by row.
        for table, rows in ((Payment.__table__, self.payments), (LedgerTransfer.__table__, self.transfers),
                            (LedgerEntry.__table__, self.entries)):
            if rows:
                self.conn.execute(insert(table), rows)
                rows.clear()


def _set_balances(accounts: dict[str, int]) -> None:
    """Kept balance = sum of the account's entries (what services.ledger maintains posting by posting)."""
    entry_sum = (select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                 .where(LedgerEntry.account_id == LedgerAccount.id).scalar_subquery())
    db.session.execute(update(LedgerAccount).where(LedgerAccount.id.in_(accounts.values()))
                       .values(balance=entry_sum))


def analyze() -> None:
    """Fresh planner statistics after a bulk load (and a vacuumed visibility map on PostgreSQL,
    so index-only scans stay index-only)."""
    db.session.remove()  # ANALYZE takes its own connection; hold no other
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE payment"))
            conn.execute(text("VACUUM ANALYZE ledger_entry"))
            conn.execute(text("VACUUM ANALYZE ledger_transfer"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        # The load's write-ahead log into the database file: until a checkpoint, every page read looks
        # through the log's index first. On the driver's connection, outside a transaction (the
        # engine begins one for every statement, and a checkpoint inside one is refused). A reader of
        # the running app may hold it back: then the log stays, and SQLite's own checkpoints catch up
        # later (slower reads until then, the same data).
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
