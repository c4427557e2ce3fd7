"""Home screen (M4): today's total for the Bishkek day, the scoped history, paging."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Payment
from mkassa.services import payments
from mkassa.services.queries import HISTORY_PAGE_SIZE
from mkassa.timeutil import BISHKEK


def _total(client) -> int:
    html = client.get("/").get_data(as_text=True)
    return int(re.search(r'data-testid="today-total" data-amount="(\d+)"', html).group(1))


def _paid(demo, cashier, amount, at, status="succeeded"):
    p = Payment(merchant_id=demo.merchant.id, point_id=cashier.point_id, cashier_id=cashier.id, method="qr",
                amount=amount, created_at=at, expires_at=at + timedelta(minutes=1))
    db.session.add(p)
    db.session.flush()
    payments.transition(p, status, at)
    if status == "succeeded":
        p.paid_at = at
        payments.credit(p, at=at)
    db.session.commit()
    return p


@pytest.mark.parametrize("offset,counted", [(timedelta(0), True), (-timedelta(microseconds=1), False)])
def test_today_starts_at_midnight_in_bishkek(client, auth, demo, offset, counted):
    midnight = datetime(2026, 11, 27, 0, 0, tzinfo=BISHKEK)  # 2026-11-26 18:00 UTC
    with time_machine.travel(midnight + timedelta(hours=10), tick=False):
        db.session.execute(Payment.__table__.update().values(paid_at=midnight - timedelta(days=3)))
        auth.login("demo")
        before = _total(client)
        _paid(demo, demo.cashier, 12345, (midnight + offset).astimezone(timezone.utc))
        assert _total(client) - before == (12345 if counted else 0)


def test_only_succeeded_payments_count(client, auth, demo):
    auth.login("demo")
    before = _total(client)
    now = datetime.now(timezone.utc)
    for status in ("failed", "expired", "cancelled"):
        _paid(demo, demo.cashier, 777, now, status)
    assert _total(client) == before
    _paid(demo, demo.cashier, 777, now)
    assert _total(client) == before + 777


def test_cashier_sees_only_own_payments(client, auth, demo):
    auth.login("cashier")
    html = client.get("/").get_data(as_text=True)
    shown = set(re.findall(r'id="payment-([0-9A-Z]{26})"', html))
    own = set(db.session.scalars(select(Payment.public_id).where(Payment.cashier_id == demo.cashier.id)))
    assert shown and shown <= own


def test_history_pages_cover_everything_once(client, auth, demo):
    auth.login("demo")
    seen: list[str] = []
    url = "/"
    while url:
        html = client.get(url, headers={"HX-Request": "true"} if url != "/" else {}).get_data(as_text=True)
        seen += re.findall(r'id="payment-([0-9A-Z]{26})"', html)
        more = re.search(r'hx-get="([^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    total = db.session.scalars(select(Payment.public_id)).all()
    assert len(seen) == len(total) == len(set(seen))
    assert len(total) > HISTORY_PAGE_SIZE


def test_history_without_javascript_is_a_full_page(client, auth, demo):
    auth.login("demo")
    html = client.get("/").get_data(as_text=True)
    next_url = re.search(r'href="(/history\?before=[^"]+)"', html).group(1).replace("&amp;", "&")
    page = client.get(next_url)
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)


def test_bad_cursor_is_400(client, auth, demo):
    auth.login("demo")
    assert client.get("/history?before=garbage").status_code == 400


@pytest.mark.parametrize("path", ["/", "/reports/?status=all"])
def test_a_static_qr_row_names_its_point_without_a_dangling_dot(client, auth, demo, path):
    """#11: a static-QR payment has no cashier, and its row started with "· Point"."""
    now = datetime.now(timezone.utc)
    db.session.add(Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id, cashier_id=None, method="qr",
                           link_type="static", amount=500, status="succeeded", created_at=now, paid_at=now))
    db.session.commit()
    auth.login("demo")
    whos = re.findall(r'data-testid="payment-who">([^<]*)<', client.get(path).get_data(as_text=True))
    assert demo.points[0].name in whos
    assert all(w.strip() and not w.strip().startswith("·") and not w.strip().endswith("·") for w in whos)
