"""Reports in real Chromium, as a new owner uses them: filters move the page and the URL, the back
button restores the previous report, and the downloaded Excel's totals equal the screen's."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from openpyxl import load_workbook

from mkassa.extensions import db
from mkassa.services import bigdata
from mkassa.timeutil import local_today

pytestmark = pytest.mark.e2e


@pytest.fixture
def big_shop(app):
    bigdata.generate(1200, days=40, points=2, cashiers_per_point=2)
    db.session.remove()


def sign_in(page, login: str) -> None:
    page.goto("/login")
    page.fill('[name="login"]', login)
    page.fill('[name="password"]', bigdata.BIG_PASSWORD)
    page.click('[data-testid="login-submit"]')
    page.wait_for_load_state()


def shown(page) -> tuple[int, int]:
    total = page.locator('[data-testid="report-total"]')
    count = page.locator('[data-testid="report-count"]')
    return int(total.get_attribute("data-amount")), int(count.get_attribute("data-count"))


def query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_for_report(page, **expected: str) -> None:
    page.wait_for_function("""(expected) => {
        const q = new URLSearchParams(location.search);
        return Object.entries(expected).every(([k, v]) => q.get(k) === v)
            && document.querySelector('[data-testid="report-total"]') !== null;
    }""", arg=expected)


def wider_than_today() -> str:
    """A period holding more days than today, in Bishkek: the month, but on its first day the week."""
    today = local_today()
    if today.day > 1:
        return "month"
    if today.weekday() > 0:
        return "week"
    pytest.skip("the 1st of the month on a Monday: the month and the week are both today")


def test_filters_url_back_button_and_excel(big_shop, page, tmp_path):
    period = wider_than_today()
    sign_in(page, "big")
    page.goto("/reports/")
    today = shown(page)

    page.select_option('[data-testid="filter-period"]', period)
    wait_for_report(page, period=period)
    page.wait_for_function("(n) => document.querySelector('[data-testid=\"report-count\"]').dataset.count != n",
                           arg=str(today[1]))
    month = shown(page)
    assert month[1] > today[1]
    assert page.locator('[data-testid="report-chart"] rect').count() >= 1

    page.select_option('[data-testid="filter-method"]', "card")
    wait_for_report(page, period=period, method="card")
    card = shown(page)
    assert 0 < card[1] < month[1]
    assert query(page)["method"] == "card"

    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('method') !== 'card'")
    page.wait_for_function("(n) => document.querySelector('[data-testid=\"report-count\"]')?.dataset.count == n",
                           arg=str(month[1]))
    assert shown(page) == month
    assert page.locator('[data-testid="filter-method"]').input_value() == ""
    assert page.locator('[data-testid="filter-period"]').input_value() == period

    # A bookmark of the card report opens the same report.
    page.goto(f"/reports/?period={period}&method=card&status=succeeded")
    assert shown(page) == card

    with page.expect_download() as info:
        page.click('[data-testid="report-download"]')
    path = tmp_path / "report.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path).active
    totals = [c.value for c in list(ws.iter_rows())[-1]]
    assert totals[1] == card[1]
    assert Decimal(str(totals[6])) * 100 == card[0]


def test_cashier_sees_my_reports_without_point_or_cashier_filters(big_shop, page):
    sign_in(page, "big-c1")
    page.goto("/reports/?period=month")
    assert page.locator("h1").inner_text() == "My reports"
    assert page.locator('[data-testid="filter-cashier"]').count() == 0
    assert page.locator('[data-testid="filter-point"]').count() == 0
    assert shown(page)[1] > 0
