"""Page or fragment (#14.4): an htmx swap gets the fragment; back/forward (an htmx history restore) and a
request that swaps the whole body get the full page, on every screen that has a fragment."""
from __future__ import annotations

import pathlib
import re

import pytest

from mkassa.extensions import db
from mkassa.models import Payment, Payout
from mkassa.services import export

SWAP = {"HX-Request": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
WHOLE_BODY = {"HX-Request": "true", "HX-Request-Type": "full"}


@pytest.fixture
def urls(client, auth, demo) -> list[str]:
    """One URL of each screen that answers htmx with a fragment (GET), signed in as the owner."""
    auth.login("demo")
    payment = db.session.scalar(db.select(Payment).where(Payment.merchant_id == demo.merchant.id).limit(1))
    payout = Payout(merchant_id=demo.merchant.id, requested_by_id=demo.owner.id, amount=100,
                    mbank_phone="+996700000000", status="failed")
    job = export.start_job(demo.owner, "report", {"period": "month"}, 1, "en")
    db.session.add(payout)
    db.session.commit()
    return ["/history", "/reports/?period=week", "/reports/rows?period=month", f"/reports/exports/{job.public_id}",
            "/account/", f"/payouts/{payout.public_id}", f"/pay/{payment.public_id}/status", "/no-such-page"]


def _is_page(html: str) -> bool:
    return "<html" in html


def test_an_htmx_swap_gets_the_fragment(client, urls):
    for url in urls:
        assert not _is_page(client.get(url, headers=SWAP).get_data(as_text=True)), url


@pytest.mark.parametrize("headers", [RESTORE, WHOLE_BODY], ids=["history-restore", "whole-body"])
def test_a_history_restore_or_a_whole_body_swap_gets_the_full_page(client, urls, headers):
    for url in urls:
        response = client.get(url, headers=headers)
        assert _is_page(response.get_data(as_text=True)), url
        assert {"HX-Request", "HX-History-Restore-Request"} <= set(response.vary), url


def test_htmx_request_headers_are_read_in_one_place():
    """mkassa/htmx.py alone decides page or fragment (static JS sends the headers, it does not read them)."""
    root = pathlib.Path(__file__).resolve().parents[2] / "mkassa"
    readers = {path.relative_to(root).as_posix() for path in root.rglob("*.py")
               if re.search(r"HX-(Request|History-Restore-Request)\b", path.read_text(encoding="utf-8"))}
    assert readers == {"htmx.py"}
