"""Points & cashiers tried as a new owner would, in Chromium (issue #5 "Done when").

The owner adds a point by tapping the map (the tile server may be unreachable: the tap must still
set the pin), adds a cashier whose SMS shows in the sandbox outbox, the cashier signs in and sees
only the limited app; deactivating them logs them out at once; bad input gets clear messages and
creates nothing.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import Point, User

pytestmark = pytest.mark.e2e


def count(model) -> int:
    n = db.session.scalar(select(func.count()).select_from(model))
    db.session.rollback()  # a fresh read next time: the server commits in its own thread
    return n


def sign_in(page, login: str, password: str) -> None:
    page.goto("/login")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', password)
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(lambda url: "/login" not in url)


def test_owner_adds_point_and_cashier_who_then_works_in_the_limited_app(demo, page, browser, live_server):
    # Tiles never load here: the map must still take the tap.
    page.route(re.compile(r"^https?://(?!localhost).*"), lambda route: route.abort())
    sign_in(page, "demo", "demo1234")
    page.goto("/")
    page.click('[data-testid="shortcut-org"]')
    page.click('[data-testid="add-point"]')

    # Nothing but a name: the pin and the address are refused next to their fields.
    points = count(Point)
    page.fill("#f-name", "Киоск у парка")
    page.click('[data-testid="point-save"]')
    assert page.locator('[data-testid="error-location"]').inner_text() == "Put the pin on the map."
    assert page.locator("#e-address").inner_text() == "This field is required."
    assert count(Point) == points
    assert page.locator("#f-name").input_value() == "Киоск у парка"  # kept

    # Without tiles the map says so and the coordinates stay in sight (#11); the blank map still takes a tap.
    expect(page.locator('[data-testid="map-unavailable"]')).to_be_visible()
    assert page.locator("#f-latitude").is_visible() and page.locator("#f-longitude").is_visible()
    page.locator('[data-testid="point-map"]').click(position={"x": 120, "y": 90})
    assert page.locator('[data-testid="point-map"] .leaflet-marker-icon').count() == 1
    latitude = float(page.locator("#f-latitude").input_value())
    assert 40 < latitude < 45
    # Typed coordinates move the pin (to the map's centre, where the map goes with it).
    marker = page.locator('[data-testid="point-map"] .leaflet-marker-icon')
    tapped = marker.bounding_box()
    page.fill("#f-latitude", "42.870000")
    page.fill("#f-longitude", "74.600000")
    page.locator("#f-longitude").dispatch_event("change")
    page.wait_for_function("b => { const r = document.querySelector('[data-testid=point-map] .leaflet-marker-icon')"
                           ".getBoundingClientRect(); return Math.abs(r.x - b.x) > 5 || Math.abs(r.y - b.y) > 5; }",
                           arg=tapped)
    assert page.locator("#f-latitude").input_value() == "42.870000"
    page.fill("#f-address", "Бишкек, ул. Токтогула, 1")
    page.click('[data-testid="point-save"]')
    page.wait_for_url(re.compile(r"/org/\?tab=points"))
    assert page.locator('[data-testid="point-row"]', has_text="Киоск у парка").count() == 1
    assert count(Point) == points + 1

    # A cashier: bad INN and phone first, nothing created and no SMS.
    page.click('[data-testid="tab-cashiers"]')
    page.click('[data-testid="add-cashier"]')
    users = count(User)
    page.select_option("#f-point", label="Киоск у парка")
    page.fill("#f-name", "Айгуль Токтогулова")
    page.fill("#f-inn", "31203199500999")
    page.fill("#f-phone", "+7 900 123 45 67")
    page.click('[data-testid="cashier-save"]')
    assert page.locator("#e-inn").inner_text() == "A person's INN starts with 1 or 2."
    assert page.locator("#e-phone").inner_text() == "Enter a Kyrgyz phone number, for example +996 555 123 456."
    assert count(User) == users
    page.fill("#f-inn", "11203199500999")
    page.fill("#f-phone", "0555 987 654")
    page.click('[data-testid="cashier-save"]')
    page.wait_for_url(re.compile(r"/org/\?tab=cashiers"))
    assert page.locator('[data-testid="cashier-row"]', has_text="Айгуль Токтогулова").count() == 1

    # The SMS with the login and password, in the sandbox outbox (delivered by the dispatcher).
    sms = None
    for _ in range(50):
        page.goto("/sandbox/sms?phone=555987654")
        text = page.locator("body").inner_text()
        sms = re.search(r"login (\S+), password (\S+)", text)
        if sms:
            break
        page.wait_for_timeout(200)
    assert sms, "no SMS with credentials in the sandbox outbox"
    login, password = sms.group(1), sms.group(2)

    # The cashier signs in on their own phone and sees only the limited app.
    cashier_context = browser.new_context(base_url=live_server, locale="en-US")
    cashier = cashier_context.new_page()
    cashier.set_default_timeout(15_000)
    sign_in(cashier, login, password)
    cashier.goto("/")
    assert cashier.locator('[data-testid="shortcut-org"]').count() == 0
    nav = cashier.locator(".bottom-nav").inner_text()
    assert "Profile" in nav and "Points" not in nav and "Withdraw" not in nav
    cashier.goto("/profile/")
    assert "Киоск у парка" in cashier.locator('[data-testid="profile-point"]').inner_text()
    assert cashier.locator('[data-testid="profile-account"]').count() == 0
    assert cashier.goto("/org/").status == 403

    # The owner deactivates them: the cashier's next page is the sign-in, which says why.
    page.goto("/org/?tab=cashiers")
    row = page.locator('[data-testid="cashier-row"]', has_text="Айгуль Токтогулова")
    row.locator('[data-testid="cashier-toggle"]').click()
    page.wait_for_url(re.compile(r"/org/\?tab=cashiers"))
    assert "Inactive" in page.locator('[data-testid="cashier-row"]', has_text="Айгуль Токтогулова").inner_text()
    cashier.goto("/")
    assert "/login" in cashier.url
    cashier.fill('input[name="login"]', login)
    cashier.fill('input[name="password"]', password)
    cashier.click('[data-testid="login-submit"]')
    assert "This account has been deactivated." in cashier.locator('[data-testid="login-error"]').inner_text()
    cashier_context.close()


def test_point_form_works_without_javascript(demo, browser, live_server):
    """No script (or Leaflet failing to load): the coordinates are typed, and the form still works."""
    context = browser.new_context(base_url=live_server, locale="en-US", java_script_enabled=False)
    page = context.new_page()
    sign_in(page, "demo", "demo1234")
    page.goto("/org/points/new")
    assert page.locator('[data-testid="point-map"]').is_hidden()
    assert page.locator("#f-latitude").is_visible()
    points = count(Point)
    page.fill("#f-name", "Без карты")
    page.fill("#f-address", "Бишкек, ул. Киевская, 77")
    page.fill("#f-latitude", "42,8761")
    page.fill("#f-longitude", "74.6102")
    page.click('[data-testid="point-save"]')
    page.wait_for_url(re.compile(r"/org/\?tab=points"))
    assert count(Point) == points + 1
    point = db.session.scalar(select(Point).where(Point.name == "Без карты"))
    assert (point.latitude, point.longitude) == (42.8761, 74.6102)
    context.close()
