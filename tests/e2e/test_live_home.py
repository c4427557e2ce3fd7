"""Home's history as a payment arrives live, in Chromium (#11: the row landed above today's heading).

`demo` comes before `page`: the demo (12 payments today, 8 earlier) is seeded before the server starts.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Payment, User
from mkassa.services import accept


def _sign_in_home(page) -> None:
    page.goto("/login")
    page.fill("[name=login]", "demo")
    page.fill("[name=password]", "demo1234")
    page.click("[data-testid=login-submit]")
    with page.expect_response(re.compile(r"/events$")):  # the live stream is open
        page.goto("/")
    page.get_by_test_id("history").wait_for()


def _history(page) -> list[tuple[str, str]]:
    """(kind, text) of each line of the history: "day" headings and "row"s, top to bottom."""
    return page.eval_on_selector_all(
        "#history > li", "lis => lis.map(li => [li.classList.contains('history-day') ? 'day' : "
                         "li.classList.contains('payment-row') ? 'row:' + li.id : 'other', li.textContent.trim()])")


@pytest.mark.parametrize("today_has_payments", [True, False])
def test_a_live_payment_is_filed_under_todays_heading(app, demo, page, today_has_payments):
    if not today_has_payments:  # every payment of the demo moved to the days before
        for payment in db.session.scalars(select(Payment)):
            payment.created_at -= timedelta(days=3)
        db.session.commit()
    _sign_in_home(page)
    headings_before = [text for kind, text in _history(page) if kind == "day"]
    with app.app_context(), app.test_request_context():
        owner = db.session.scalar(select(User).where(User.login == "demo"))
        payment = accept.create_qr_payment(owner, "77", app.extensions["mkassa.settings"])
        db.session.commit()
        public_id = payment.public_id
    page.locator(f"#payment-{public_id}").wait_for()
    lines = _history(page)
    assert lines[0][0] == "day" and lines[1][0] == f"row:payment-{public_id}"
    headings = [text for kind, text in lines if kind == "day"]
    assert len(headings) == len(set(headings))  # one heading per day
    if today_has_payments:
        assert headings == headings_before
    else:
        assert headings == [lines[0][1], *headings_before]
    assert page.locator("#history-empty").count() == 0
