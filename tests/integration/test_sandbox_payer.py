"""The sandbox payer delivers signed webhooks over real HTTP: now, twice, out of order, late."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import OutboxMessage, Payment
from mkassa.services import accept, ledger

from ..conftest import LiveServer


def pay(url: str, link: str, delivery: str) -> str:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{url}/sandbox/pay?" + urllib.parse.urlencode({"link": link})).read().decode()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": csrf, "link": link, "payer_bank": "DCB", "delivery": delivery})
    return opener.open(f"{url}/sandbox/pay", data=form.encode()).read().decode()


@pytest.mark.parametrize("delivery, statuses", [("now", ["200"]), ("twice", ["200", "200"]),
                                                ("out_of_order", ["200", "422"])])
def test_payer_pays_once_whatever_the_delivery(app, demo, delivery, statuses):
    payment = accept.create_qr_payment(demo.cashier, "50", app.extensions["mkassa.settings"])
    db.session.commit()
    link = accept.payment_link(payment, app.extensions["mkassa.settings"])
    before = ledger.balances(demo.merchant.id)["processing"]
    with LiveServer(app) as server:
        done = pay(server.url, link, delivery)
    assert 'data-testid="payer-done"' in done
    assert re.findall(r"→ HTTP (\d+)", done) == statuses
    db.session.commit()
    paid = db.session.get(Payment, payment.id)
    assert (paid.status, paid.payer_bank) == ("succeeded", "DCB")
    assert ledger.balances(demo.merchant.id)["processing"] == before + 5000


def test_late_delivery_goes_through_the_outbox_after_the_lifetime(app, demo):
    settings = app.extensions["mkassa.settings"]
    payment = accept.create_qr_payment(demo.cashier, "50", settings)
    db.session.commit()
    with LiveServer(app) as server:
        done = pay(server.url, accept.payment_link(payment, settings), "late")
    assert 'data-testid="payer-done"' in done
    db.session.commit()
    [queued] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "sandbox_webhook"))
    delay = (queued.next_attempt_at - queued.created_at).total_seconds()
    assert delay >= settings.payment_lifetime_seconds
    assert db.session.get(Payment, payment.id).status == "pending"
