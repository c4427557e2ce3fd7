"""Reports (M8): every filter combination's totals equal a direct SQL sum; scope, validation, paging."""
from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import bindparam, func, select

from mkassa.extensions import db
from mkassa.models import Payment
from mkassa.security import prepared, scoped
from mkassa.services import reports

BISHKEK = ZoneInfo("Asia/Bishkek")
# A Friday afternoon in Bishkek: "this week" starts on Monday the 23rd, "this month" on the 1st.
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=BISHKEK)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def english(client):
    """Texts are checked in English (the msgids), whatever the catalogs say."""
    client.set_cookie("lang", "en")
PAYMENTS = Payment.__table__.c


def figures(html: str) -> tuple[int, int]:
    amount = int(re.search(r'data-testid="report-total" data-amount="(-?\d+)"', html).group(1))
    count = int(re.search(r'data-testid="report-count" data-count="(\d+)"', html).group(1))
    return amount, count


def sql_sum(merchant_id: int, first: date, last: date, *, point_id=None, cashier_id=None, method=None,
            status="succeeded") -> tuple[int, int]:
    """The same figure written directly against the table, with the day bounds worked out here."""
    start = datetime.combine(first, time.min, tzinfo=BISHKEK).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=BISHKEK).astimezone(timezone.utc)
    stmt = select(func.coalesce(func.sum(PAYMENTS.amount), 0), func.count()).where(
        PAYMENTS.merchant_id == merchant_id, PAYMENTS.created_at >= start, PAYMENTS.created_at < end)
    for column, value in ((PAYMENTS.point_id, point_id), (PAYMENTS.cashier_id, cashier_id),
                          (PAYMENTS.method, method), (PAYMENTS.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    amount, count = db.session.execute(stmt).one()
    return int(amount), int(count)


@pytest.fixture
def shop(demo):
    """The demo shop seeded a week before NOW, plus payments on both sides of today's midnight."""
    midnight = datetime.combine(TODAY, time.min, tzinfo=BISHKEK).astimezone(timezone.utc)
    for created, method in ((midnight, "qr"), (midnight - timedelta(microseconds=1), "card")):
        db.session.add(Payment(merchant_id=demo.merchant.id, point_id=demo.points[1].id,
                               cashier_id=demo.cashier2.id, method=method, amount=77_700, status="succeeded",
                               created_at=created, paid_at=created))
    db.session.commit()
    return demo


PERIODS = [("today", TODAY, TODAY), ("yesterday", TODAY - timedelta(days=1), TODAY - timedelta(days=1)),
           ("week", date(2026, 11, 23), TODAY), ("month", date(2026, 11, 1), TODAY),
           ("custom", date(2026, 10, 20), date(2026, 11, 26))]


@pytest.fixture
def seeded_at_now(app):
    """The big merchant with two months of payments up to NOW (bulk-generated: fast)."""
    from mkassa.models import Merchant, User
    from mkassa.services import bigdata
    with time_machine.travel(NOW, tick=False):
        result = bigdata.generate(3000, days=60, points=2, cashiers_per_point=2, now=NOW)
    merchant = db.session.get(Merchant, result.merchant_id)
    people = {u.login: u for u in db.session.scalars(select(User).where(User.merchant_id == merchant.id))}
    return merchant, people


@pytest.mark.parametrize("period,first,last", PERIODS, ids=[p[0] for p in PERIODS])
def test_every_filter_combination_matches_a_direct_sql_sum(client, auth, seeded_at_now, period, first, last):
    merchant, people = seeded_at_now
    point = merchant.points[0]
    cashier = people["big-c1"]
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        seen = set()
        for point_id, cashier_id, method, status in itertools.product(
                (None, point.id), (None, cashier.id), (None, "qr", "card"), ("succeeded", "all", "expired")):
            query = {"period": period, "status": status}
            if period == "custom":
                query.update({"from": first.isoformat(), "to": last.isoformat()})
            if point_id:
                query["point"] = point.public_id
            if cashier_id:
                query["cashier"] = cashier.public_id
            if method:
                query["method"] = method
            response = client.get("/reports/", query_string=query)
            assert response.status_code == 200, query
            # The figures are money received, whatever the status filter (#11); the list has the rest.
            expected = (sql_sum(merchant.id, first, last, point_id=point_id, cashier_id=cashier_id, method=method)
                        if status in ("succeeded", "all") else (0, 0))
            html = response.get_data(as_text=True)
            assert figures(html) == expected, query
            if status != "succeeded":
                _amount, matched = sql_sum(merchant.id, first, last, point_id=point_id, cashier_id=cashier_id,
                                           method=method, status=None if status == "all" else status)
                assert f'data-testid="report-matched" data-count="{matched}"' in html, query
            seen.add(expected[1] > 0)
        assert True in seen, "the data set should give non-empty reports for this period"


@pytest.mark.parametrize("period", ["today", "week"])  # charted by hour from payments, by day from the rollup
def test_all_statuses_headline_counts_only_money_received(client, auth, demo, period):
    """#11: "All statuses" put failed, expired and cancelled amounts into the headline total."""
    now = datetime.now(timezone.utc)
    for status, amount in (("succeeded", 10_000), ("failed", 20_000), ("expired", 40_000),
                           ("cancelled", 80_000), ("pending", 160_000)):
        db.session.add(Payment(merchant_id=demo.merchant.id, point_id=demo.points[0].id, cashier_id=demo.owner.id,
                               method="qr", amount=amount, status=status, created_at=now,
                               paid_at=now if status == "succeeded" else None))
    db.session.commit()
    auth.login("demo")
    before = figures(client.get(f"/reports/?period={period}&status=succeeded").get_data(as_text=True))
    html = client.get(f"/reports/?period={period}&status=all").get_data(as_text=True)
    assert figures(html) == before and before[0] >= 10_000
    assert "Received: paid payments only" in html
    bars = [int(v) for v in re.findall(r'<rect [^>]*data-amount="(\d+)"', html)]
    assert sum(bars) == before[0]
    failed = client.get(f"/reports/?period={period}&status=failed").get_data(as_text=True)
    assert figures(failed) == (0, 0) and 'data-testid="report-matched"' in failed


def test_day_bounds_are_bishkek_midnight(client, auth, shop):
    """A payment at 00:00:00 Bishkek is today's; one a microsecond earlier is yesterday's."""
    auth.login("demo")
    today_card = figures(client.get("/reports/?period=today&method=card&cashier="
                                    f"{shop.cashier2.public_id}").get_data(as_text=True))
    yesterday = figures(client.get("/reports/?period=yesterday&status=succeeded").get_data(as_text=True))
    assert today_card == sql_sum(shop.merchant.id, _local_today(), _local_today(),
                                 cashier_id=shop.cashier2.id, method="card")
    assert yesterday == sql_sum(shop.merchant.id, _local_today() - timedelta(days=1),
                                _local_today() - timedelta(days=1))


def _local_today() -> date:
    from mkassa.timeutil import local_today
    return local_today()


def test_summary_figures_chart_and_methods_agree(client, auth, seeded_at_now):
    merchant, _people = seeded_at_now
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        html = client.get("/reports/?period=month").get_data(as_text=True)
    amount, count = figures(html)
    bars = [int(v) for v in re.findall(r'<rect [^>]*data-amount="(\d+)"', html)]
    assert len(bars) == 27 and sum(bars) == amount  # one bar per day of November so far
    methods = dict(re.findall(r'data-method="(\w+)" data-amount="(\d+)"', html))
    assert int(methods["qr"]) + int(methods["card"]) == amount
    average = int(re.search(r'data-testid="report-average" data-amount="(\d+)"', html).group(1))
    assert abs(average * count - amount) <= count // 2 + 1


def test_a_day_is_charted_by_hour(client, auth, seeded_at_now):
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        html = client.get("/reports/?period=today").get_data(as_text=True)
    bars = [int(v) for v in re.findall(r'<rect [^>]*data-amount="(\d+)"', html)]
    assert len(bars) == 24 and sum(bars) == figures(html)[0]
    # NOW is 15:00 in Bishkek: nothing can have been sold later today.
    assert sum(bars[15:]) == 0


def test_each_payment_is_charted_in_its_bishkek_hour(client, auth, demo):
    """A payment lands in the bar of its hour in Bishkek (UTC+6), also at the edges of hours and of the
    day: the first moment of the day, the last moment of an hour, the first of the next."""
    midnight = datetime.combine(TODAY, time.min, tzinfo=BISHKEK)
    moments = {0: [midnight], 5: [midnight + timedelta(hours=6) - timedelta(microseconds=1)],
               6: [midnight + timedelta(hours=6)], 17: [midnight + timedelta(hours=17, minutes=59, seconds=59)],
               23: [midnight + timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999)]}
    # Either side of the day: in no bar of it.
    outside = [midnight - timedelta(microseconds=1), midnight + timedelta(days=1)]

    def bars() -> list[int]:
        html = client.get("/reports/?period=today").get_data(as_text=True)
        return [int(v) for v in re.findall(r'<rect [^>]*data-amount="(\d+)"', html)]

    with time_machine.travel(NOW, tick=False):
        auth.login("demo")
        before = bars() or [0] * 24  # the demo shop's own payments, if any fall on that day (no chart if none)
        for hour, times in [*moments.items(), (None, outside)]:
            for moment in times:
                db.session.add(Payment(merchant_id=demo.merchant.id, cashier_id=demo.cashier.id, method="qr",
                                       amount=1000 + (hour or 0), status="succeeded",
                                       created_at=moment.astimezone(timezone.utc),
                                       paid_at=moment.astimezone(timezone.utc)))
        db.session.commit()
        after = bars()
    assert len(after) == 24
    assert [a - b for a, b in zip(after, before)] == [1000 + h if h in moments else 0 for h in range(24)]


def test_cashier_sees_only_own_payments_and_cannot_widen_the_report(client, auth, seeded_at_now):
    merchant, people = seeded_at_now
    cashier, other = people["big-c1"], people["big-c3"]
    with time_machine.travel(NOW, tick=False):
        auth.login("big-c1")
        response = client.get("/reports/?period=month&status=all")
        html = response.get_data(as_text=True)
        assert figures(html) == sql_sum(merchant.id, date(2026, 11, 1), TODAY, cashier_id=cashier.id)  # money received only (#11)
        assert 'data-testid="filter-cashier"' not in html and 'data-testid="filter-point"' not in html
        # A day, charted by hour: from their payments, never from the shop's hourly rollup.
        for period, day in (("today", TODAY), ("yesterday", TODAY - timedelta(days=1))):
            html = client.get(f"/reports/?period={period}").get_data(as_text=True)
            assert figures(html) == sql_sum(merchant.id, day, day, cashier_id=cashier.id) != (0, 0), period
        refused = client.get(f"/reports/?period=month&cashier={other.public_id}")
    assert refused.status_code == 422
    assert "Choose a cashier from the list." in refused.get_data(as_text=True)


@pytest.mark.parametrize("days,status", [(reports.REPORT_MAX_DAYS, 200), (reports.REPORT_MAX_DAYS + 1, 422)])
def test_custom_period_length_limit(client, auth, demo, days, status):
    auth.login("demo")
    first = date(2025, 1, 1)
    last = first + timedelta(days=days - 1)
    response = client.get(f"/reports/?period=custom&from={first}&to={last}")
    assert response.status_code == status
    if status == 422:
        assert 'id="e-to"' in response.get_data(as_text=True)


@pytest.mark.parametrize("query,field", [
    ("period=custom&from=2026-11-10&to=2026-11-01", "to"),
    ("period=custom&from=nonsense&to=2026-11-01", "from"),
    ("period=decade", "period"),
    ("method=cash", "method"),
    ("status=refunded", "status"),
    ("point=01HZZZZZZZZZZZZZZZZZZZZZZZ", "point"),
])
def test_bad_filters_answer_422_with_the_message_at_the_field(client, auth, demo, query, field):
    auth.login("demo")
    response = client.get(f"/reports/?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="e-{field}" class="field-error"' in html
    assert 'data-testid="report-total"' not in html


def test_custom_without_dates_starts_from_this_month(client, auth, demo):
    auth.login("demo")
    html = client.get("/reports/?period=custom").get_data(as_text=True)
    today = _local_today()
    assert f'value="{today.replace(day=1).isoformat()}"' in html and f'value="{today.isoformat()}"' in html


def test_keyset_pages_cover_every_row_once(client, auth, seeded_at_now):
    merchant, _people = seeded_at_now
    with time_machine.travel(NOW, tick=False):
        auth.login("big")
        html = client.get("/reports/?period=month&status=all").get_data(as_text=True)
        seen = re.findall(r'data-testid="report-row"', html)
        total = len(seen)
        more = re.search(r'href="(/reports/rows\?[^"]+)"', html)
        pages = 1
        while more:
            page = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
            assert page.status_code == 200
            body = page.get_data(as_text=True)
            total += body.count('data-testid="report-row"')
            more = re.search(r'href="(/reports/rows\?[^"]+)"', body)
            pages += 1
    assert pages > 2
    assert total == sql_sum(merchant.id, date(2026, 11, 1), TODAY, status=None)[1]


def test_htmx_gets_the_fragment_and_history_restore_the_page(client, auth, demo):
    auth.login("demo")
    fragment = client.get("/reports/?period=week", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith("<div id=\"report\"") and "<html" not in fragment
    restore = client.get("/reports/?period=week", headers={"HX-Request": "true",
                                                           "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_bad_cursor_is_a_400(client, auth, demo):
    auth.login("demo")
    assert client.get("/reports/rows?period=today&before=2026-11-27T10:00:00_x").status_code == 400
    assert client.get("/reports/rows?period=today&before=2026-11-27T10:00:00_5").status_code == 400  # naive


def test_reports_need_sign_in(client, demo):
    assert client.get("/reports/").status_code == 302


def test_one_shape_of_report_keeps_each_readers_scope(client, auth, demo, seeded_at_now):
    """A report's statements are built once per shape and kind of user (security.prepared) and run with
    the reader's values: owners of two merchants and two cashiers, one after the other, each get theirs."""
    merchant, people = seeded_at_now
    first, last = date(2026, 9, 1), date(2026, 12, 31)
    query = {"period": "custom", "from": first.isoformat(), "to": last.isoformat(), "status": "all"}
    readers = [("big", merchant.id, None), ("demo", demo.merchant.id, None),
               ("big-c1", merchant.id, people["big-c1"].id), ("big-c3", merchant.id, people["big-c3"].id),
               ("big", merchant.id, None)]
    seen = []
    for login, merchant_id, cashier_id in readers:
        auth.login(login)
        html = client.get("/reports/", query_string=query).get_data(as_text=True)
        assert figures(html) == sql_sum(merchant_id, first, last, cashier_id=cashier_id), login
        seen.append(figures(html))
        auth.logout()
    assert len(set(seen)) == 4, "the readers should have different figures for the test to tell them apart"


def test_under_tests_a_prepared_statement_whose_values_are_not_all_named_is_refused(app, demo):
    """security.prepared runs the first build of a shape for every later request, with only its named
    parameters replaced: a value written as `column == value` would be the first reader's for all. The
    tests' own check turns that mistake into a failure instead of a leak."""
    owner = demo.owner
    key = (f"test.{uuid.uuid4().hex}",)

    def report_of(amount: int):
        return lambda: scoped(Payment, user=owner).where(Payment.amount == amount)

    prepared(key, report_of(100), {}, user=owner)
    prepared(key, report_of(100), {}, user=owner)  # the same value: the same statement
    with pytest.raises(AssertionError, match="not named parameters"):
        prepared(key, report_of(200), {}, user=owner)
    with pytest.raises(AssertionError, match="another statement"):
        prepared(key, lambda: scoped(Payment, user=owner).where(Payment.status == "failed"), {}, user=owner)
    named = (f"test.{uuid.uuid4().hex}",)
    for amount in (100, 200):
        stmt, values = prepared(named, lambda: scoped(Payment, user=owner).where(
            Payment.amount == bindparam("amount", amount)), {"amount": amount}, user=owner)
        assert values["amount"] == amount and values["scope_merchant_id"] == demo.merchant.id


def test_filter_choices_list_the_shops_points_then_its_people_owner_first(client, auth, demo):
    """One round trip reads both lists (reports.choices_statement): points by id, then the people who
    take payments, owners before cashiers, each by name; nobody of another shop, no bank staff."""
    from mkassa.models import Point, User
    auth.login("demo")
    html = client.get("/reports/").get_data(as_text=True)

    def options(testid: str) -> list[str]:
        select_html = re.search(rf'data-testid="{testid}".*?</select>', html, re.S).group(0)
        return [v for v in re.findall(r'<option value="([^"]*)"', select_html) if v]

    points = db.session.scalars(select(Point).where(Point.merchant_id == demo.merchant.id).order_by(Point.id)).all()
    people = db.session.scalars(select(User).where(User.merchant_id == demo.merchant.id,
                                                   User.role.in_(("owner", "cashier")))).all()
    people.sort(key=lambda u: (u.role != "owner", u.name))
    assert len(points) >= 2 and len(people) >= 3
    assert options("filter-point") == [p.public_id for p in points]
    assert options("filter-cashier") == [u.public_id for u in people]


@pytest.mark.parametrize("days,labels", [(2, ["26 Nov", "27 Nov"]), (3, ["25 Nov", "26 Nov", "27 Nov"]),
                                         (1, ["00:00", "12:00", "23:00"])])
def test_chart_axis_names_each_day_once(client, auth, shop, days, labels):
    """The axis under the bars: first, middle and last, the middle left out when it is the last (two days)."""
    first = TODAY - timedelta(days=days - 1)
    with time_machine.travel(NOW, tick=False):
        auth.login("demo")
        html = client.get(f"/reports/?period=custom&from={first}&to={TODAY}").get_data(as_text=True)
    axis = re.search(r'<figcaption class="chart-axis">(.*?)</figcaption>', html, re.S).group(1)
    assert re.findall(r"<span>([^<]*)</span>", axis) == labels
