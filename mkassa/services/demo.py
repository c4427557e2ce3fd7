"""The demo merchant for the sandbox: "Demo Shop", two points, two cashiers, a month of payments."""
from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import Merchant, Payment, Point, User, utcnow
from ..timeutil import day_bounds_utc, local_today
from . import auth, ledger, payments

DEMO_PASSWORD = "demo1234"
DEMO_LOGINS = [("owner", "demo", DEMO_PASSWORD), ("cashier", "cashier", DEMO_PASSWORD),
               ("cashier", "cashier2", DEMO_PASSWORD)]
DEMO_DAYS = 30
TODAY_PAYMENTS = 12
CARD_MASKS = ("4169 **** **** 1234", "5440 **** **** 0071", "9417 **** **** 5512")
PAYER_BANKS = ("MBANK", "O!Bank", "Bakai Bank", "DCB", "Optima Bank")


def seed(payments: int = 500, rng_seed: int = 20261127) -> bool:
    """Create the demo merchant unless it exists. Returns True when it was created."""
    if db.session.scalar(select(User.id).where(User.login == "demo")):
        return False
    rng = random.Random(rng_seed)
    merchant = Merchant(legal_name="ИП Демо Магазин", display_name="Demo Shop", inn="21505199000123",
                        mcc="5411", account_number="1030120000012345", bank_name="Demo Commercial Bank",
                        bank_bic="103001", account_opened_on=date(2024, 3, 15), mbank_phone="+996555123456",
                        is_bank_client=True, has_mpos_contract=True)
    db.session.add(merchant)
    db.session.flush()
    points = [Point(merchant_id=merchant.id, name="Центральный", address="Бишкек, пр. Чуй, 120",
                    latitude=42.8765, longitude=74.6040),
              Point(merchant_id=merchant.id, name="Ошский базар", address="Бишкек, ул. Бейшеналиевой, 42",
                    latitude=42.8745, longitude=74.5680)]
    db.session.add_all(points)
    db.session.flush()
    hashed = auth.hash_password(DEMO_PASSWORD)
    owner = User(merchant_id=merchant.id, role="owner", login="demo", password_hash=hashed, phone="+996555123456",
                 name="Айбек Демов", inn="21505199000123", point_id=points[0].id)
    cashiers = [User(merchant_id=merchant.id, role="cashier", login="cashier", password_hash=hashed,
                     phone="+996700111222", name="Нургуль Асанова", inn="11203199500456", point_id=points[0].id),
                User(merchant_id=merchant.id, role="cashier", login="cashier2", password_hash=hashed,
                     phone="+996770333444", name="Бакыт Осмонов", inn="20811199000789", point_id=points[1].id)]
    db.session.add_all([owner, *cashiers])
    db.session.flush()
    ledger.open_merchant_accounts(merchant.id)
    now = utcnow()
    people = [owner, *cashiers]
    for _ in range(payments):
        created = now - timedelta(seconds=rng.randint(60, DEMO_DAYS * 24 * 3600))
        who = rng.choice(people)
        _demo_payment(rng, merchant, who, who.point_id, created, now)
    # A shop that opened this morning: the home screen has a "today" to show.
    start_of_day, _end = day_bounds_utc(local_today(now))
    for _ in range(TODAY_PAYMENTS):
        created = start_of_day + (now - start_of_day) * rng.random()
        who = rng.choice(people)
        _demo_payment(rng, merchant, who, who.point_id, min(created, now - timedelta(minutes=1)), now)
    return True


def _demo_payment(rng: random.Random, merchant: Merchant, cashier: User, point_id: int, created, now) -> None:
    method = "card" if rng.random() < 0.2 else "qr"
    status = rng.choices(("succeeded", "failed", "expired", "cancelled"), (85, 5, 7, 3))[0]
    amount = rng.choice((50, 80, 120, 150, 250, 400, 560, 990, 1500, 2300, 4800)) * 100 + rng.choice((0, 0, 50))
    payment = Payment(merchant_id=merchant.id, point_id=point_id, cashier_id=cashier.id, method=method,
                      amount=amount, status="pending", created_at=created,
                      expires_at=created + timedelta(seconds=60))
    db.session.add(payment)
    db.session.flush()
    payments.transition(payment, status, created + timedelta(seconds=rng.randint(5, 55)))
    if status != "succeeded":
        return
    payment.paid_at = payment.finished_at
    payment.bank_txn_id = f"demo-{payment.public_id}"
    if method == "card":
        payment.card_mask, payment.rrn = rng.choice(CARD_MASKS), str(rng.randint(10**11, 10**12 - 1))
        payment.auth_code, payment.payer_bank = f"{rng.randint(0, 999999):06d}", "Card"
    else:
        payment.payer_bank, payment.payer_name_masked = rng.choice(PAYER_BANKS), "А***р К."
    payments.credit(payment, at=payment.paid_at)
    if now - created > timedelta(hours=1):
        payments.settle(payment, at=payment.paid_at + timedelta(minutes=30))
