"""Points of sale and cashiers (M6), the owner's point (M5.4), deactivated sign-in, the cashier's
limited app (M10), as an owner and a cashier see them through the real forms."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import AuditEvent, Merchant, Payment, Point, SandboxSms, User, UserSession
from mkassa.models.merchant import ADDRESS_MAX, POINT_NAME_MAX
from mkassa.models.user import NAME_MAX
from mkassa.services import outbox
from mkassa.services.auth import hash_password

POINT = {"name": "Киоск у парка", "address": "Бишкек, ул. Токтогула, 1", "latitude": "42.87",
         "longitude": "74.59"}
CASHIER_INN = "11203199500999"
CASHIER_PHONE = "+996555987654"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def post(client, auth, url, data):
    return client.post(url, data={**data, "csrf_token": auth.csrf("/profile/")})


def sent_credentials(phone: str) -> tuple[str, str]:
    """Deliver the outbox and read the login and password out of the last SMS to `phone`."""
    outbox.dispatch_due()
    sms = db.session.scalars(select(SandboxSms).where(SandboxSms.phone == phone).order_by(SandboxSms.id.desc())).first()
    assert sms is not None, f"no SMS to {phone}"
    match = re.search(r"login (\S+), password (\S+)", sms.text)
    assert match, sms.text
    return match.group(1), match.group(2)


@pytest.fixture(autouse=True)
def english(client):
    """Messages are asserted in English, whatever catalogs exist."""
    client.set_cookie("lang", "en")


def new_client(app):
    other = app.test_client()
    other.set_cookie("lang", "en")
    return other


@pytest.fixture
def owner(demo, client, auth):
    auth.login("demo")
    return demo


def new_cashier_data(demo, **changes):
    return {"point": demo.points[1].public_id, "name": "Айгуль Токтогулова", "inn": CASHIER_INN,
            "phone": CASHIER_PHONE, **changes}


def other_merchant() -> tuple[Merchant, Point, User]:
    merchant = Merchant(legal_name="ОсОО Другая", display_name="Other", inn="01234567890123", mcc="5812",
                        account_number="1030120000099999", bank_name="Bank", bank_bic="103001",
                        account_opened_on=date(2025, 1, 1))
    db.session.add(merchant)
    db.session.flush()
    point = Point(merchant_id=merchant.id, name="Other point", address="Ош", latitude=40.5, longitude=72.8)
    db.session.add(point)
    db.session.flush()
    owner = User(merchant_id=merchant.id, role="owner", login="otherowner", password_hash=hash_password("other-pass-1"),
                 name="Other Owner", phone="+996700999888")
    db.session.add(owner)
    db.session.commit()
    return merchant, point, owner


# ---- Points ------------------------------------------------------------------------------------

def test_owner_sees_both_tabs_with_add_buttons(owner, client):
    points = client.get("/org/").get_data(as_text=True)
    assert points.count('data-testid="point-row"') == 2 and "Центральный" in points
    assert 'data-testid="add-point"' in points
    cashiers = client.get("/org/?tab=cashiers").get_data(as_text=True)
    assert cashiers.count('data-testid="cashier-row"') == 2 and "Нургуль Асанова" in cashiers
    assert 'data-testid="add-cashier"' in cashiers
    assert 'data-testid="shortcut-org"' in client.get("/").get_data(as_text=True)


def test_point_form_has_the_map_and_visible_coordinates_for_no_script(owner, client, app):
    html = client.get("/org/points/new").get_data(as_text=True)
    assert f'data-tiles="{app.extensions["mkassa.settings"].map_tiles_url}"' in html
    assert re.search(r"/static/js/map\.[0-9a-f]+\.js", html) and re.search(r"vendor/leaflet-1\.9\.4/leaflet\.[0-9a-f]+\.js", html)
    # The coordinate inputs are in the page itself and stay visible with the map (#11).
    assert re.search(r'<div id="map-manual"[^>]*>', html).group(0) == '<div id="map-manual" class="grid">'
    assert 'name="latitude"' in html and 'name="longitude"' in html


def test_create_point(owner, client, auth):
    response = post(client, auth, "/org/points/new", POINT)
    assert response.status_code == 302
    point = db.session.scalar(select(Point).where(Point.name == POINT["name"]))
    assert (point.merchant_id, point.address, point.latitude, point.longitude) == (
        owner.merchant.id, POINT["address"], 42.87, 74.59)
    assert POINT["name"] in client.get("/org/").get_data(as_text=True)


@pytest.mark.parametrize("changes, field, message", [
    ({"latitude": "", "longitude": ""}, "location", "Put the pin on the map."),
    ({"latitude": "42.8"}, None, None),  # control: the base data is valid
    ({"longitude": "abc"}, "location", "Put the pin on the map."),
    ({"latitude": "90.000001"}, "location", "Put the pin on the map."),
    ({"longitude": "-180.5"}, "location", "Put the pin on the map."),
    ({"address": "   "}, "address", "This field is required."),
    ({"name": ""}, "name", "This field is required."),
    ({"name": "x" * (POINT_NAME_MAX + 1)}, "name", f"At most {POINT_NAME_MAX} characters."),
    ({"address": "x" * (ADDRESS_MAX + 1)}, "address", f"At most {ADDRESS_MAX} characters."),
])
def test_bad_point_is_refused_next_to_the_field(owner, client, auth, changes, field, message):
    before = count(Point)
    response = post(client, auth, "/org/points/new", {**POINT, **changes})
    if field is None:
        assert response.status_code == 302 and count(Point) == before + 1
        return
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'id="e-{field}"[^>]*>{re.escape(message)}<', html), html
    assert count(Point) == before
    assert POINT["address"] in html or field == "address"  # what was typed is kept


def test_point_limits_at_their_boundary(owner, client, auth):
    response = post(client, auth, "/org/points/new", {**POINT, "name": "n" * POINT_NAME_MAX,
                                                      "address": "a" * ADDRESS_MAX, "latitude": "-90",
                                                      "longitude": "180"})
    assert response.status_code == 302
    assert db.session.scalar(select(Point).where(Point.name == "n" * POINT_NAME_MAX)).longitude == 180


def test_edit_point(owner, client, auth):
    point = owner.points[0]
    response = post(client, auth, f"/org/points/{point.public_id}", {**POINT, "name": "Центр-2"})
    assert response.status_code == 302
    db.session.refresh(point)
    assert (point.name, point.latitude) == ("Центр-2", 42.87)


def test_a_point_with_active_cashiers_asks_to_move_them_first(owner, client, auth):
    point = owner.points[1]
    page = client.get(f"/org/points/{point.public_id}/delete").get_data(as_text=True)
    assert 'data-testid="blocking-cashiers"' in page and "Бакыт Осмонов" in page
    response = post(client, auth, f"/org/points/{point.public_id}/delete", {})
    assert response.status_code == 409
    assert "Move this point&#39;s active cashiers to another point first." in response.get_data(as_text=True)
    db.session.refresh(point)
    assert point.archived_at is None


def test_a_point_with_payments_is_archived_and_history_keeps_its_name(owner, client, auth):
    point = owner.points[1]
    post(client, auth, f"/org/cashiers/{owner.cashier2.public_id}",
         {"point": owner.points[0].public_id, "name": owner.cashier2.name})
    assert db.session.scalar(select(func.count()).where(Payment.point_id == point.id)) > 0
    response = post(client, auth, f"/org/points/{point.public_id}/delete", {})
    assert response.status_code == 302
    db.session.refresh(point)
    assert point.archived_at is not None
    listing = client.get("/org/").get_data(as_text=True)
    assert listing.count('data-testid="point-row"') == 1
    assert "Point Ошский базар archived: its payments keep its name." in listing
    payment = db.session.scalar(select(Payment).where(Payment.point_id == point.id))
    assert payment.point.name == "Ошский базар"
    # An archived point can no longer be chosen for a cashier.
    response = post(client, auth, "/org/cashiers/new", new_cashier_data(owner, point=point.public_id))
    assert response.status_code == 422 and "Choose a point of sale." in response.get_data(as_text=True)


def test_a_point_without_payments_is_deleted_and_owners_choice_cleared(owner, client, auth):
    post(client, auth, "/org/points/new", POINT)
    point = db.session.scalar(select(Point).where(Point.name == POINT["name"]))
    post(client, auth, "/profile/point", {"point": point.public_id})
    db.session.refresh(owner.owner)
    point_id = point.id
    assert owner.owner.point_id == point_id
    response = post(client, auth, f"/org/points/{point.public_id}/delete", {})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Point, point_id) is None
    assert db.session.get(User, owner.owner.id).point_id is None


def test_another_merchants_point_is_not_found(owner, client, auth):
    _merchant, point, _owner = other_merchant()
    assert client.get(f"/org/points/{point.public_id}").status_code == 404
    assert post(client, auth, f"/org/points/{point.public_id}", POINT).status_code == 404
    assert post(client, auth, f"/org/points/{point.public_id}/delete", {}).status_code == 404
    db.session.refresh(point)
    assert point.name == "Other point" and point.archived_at is None


# ---- Cashiers ----------------------------------------------------------------------------------

def test_new_cashier_gets_login_and_password_by_sms_and_can_sign_in(owner, client, auth, app):
    response = post(client, auth, "/org/cashiers/new", {**new_cashier_data(owner), "phone": "0555 987 654"})
    assert response.status_code == 302
    cashier = db.session.scalar(select(User).where(User.phone == CASHIER_PHONE))
    assert (cashier.role, cashier.merchant_id, cashier.point_id, cashier.inn, cashier.active) == (
        "cashier", owner.merchant.id, owner.points[1].id, CASHIER_INN, True)
    login, password = sent_credentials(CASHIER_PHONE)
    assert login == cashier.login
    assert password not in client.get("/org/?tab=cashiers").get_data(as_text=True)
    assert not db.session.scalar(select(func.count()).where(AuditEvent.data.is_not(None),
                                                            func.cast(AuditEvent.data, db.String).contains(password)))
    other = new_client(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)
    assert other.post("/login", data={"login": login, "password": password, "csrf_token": token}).status_code == 302
    assert "Айгуль Токтогулова" in other.get("/profile/").get_data(as_text=True)


@pytest.mark.parametrize("changes, field, message", [
    ({"inn": "1120319950099"}, "inn", "The INN has 14 digits."),
    ({"inn": "112031995009901"}, "inn", "The INN has 14 digits."),
    ({"inn": "1120319950099a"}, "inn", "The INN has 14 digits."),
    ({"inn": "31203199500999"}, "inn", "A person&#39;s INN starts with 1 or 2."),
    ({"inn": "01203199500999"}, "inn", "A person&#39;s INN starts with 1 or 2."),
    ({"inn": "13102199500999"}, "inn", "This INN does not contain a valid date of birth."),
    ({"inn": "12902199900999"}, "inn", "This INN does not contain a valid date of birth."),
    ({"phone": "+7 900 123 45 67"}, "phone", "Enter a Kyrgyz phone number, for example +996 555 123 456."),
    ({"phone": "12"}, "phone", "Enter a Kyrgyz phone number, for example +996 555 123 456."),
    ({"phone": ""}, "phone", "Enter a phone number."),
    ({"phone": "+996 700 111 222"}, "phone", "This phone number already belongs to an active user."),
    ({"name": ""}, "name", "This field is required."),
    ({"name": "x" * (NAME_MAX + 1)}, "name", f"At most {NAME_MAX} characters."),
    ({"point": ""}, "point", "Choose a point of sale."),
])
def test_bad_cashier_is_refused_and_nothing_is_created(owner, client, auth, changes, field, message):
    users, messages = count(User), count(SandboxSms)
    response = post(client, auth, "/org/cashiers/new", new_cashier_data(owner, **changes))
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}"[^>]*>{re.escape(message)}<', response.get_data(as_text=True))
    outbox.dispatch_due()
    assert (count(User), count(SandboxSms)) == (users, messages)


def test_inn_with_a_future_birth_date_is_refused(owner, client, auth):
    tomorrow = date.today() + timedelta(days=1)
    response = post(client, auth, "/org/cashiers/new",
                    new_cashier_data(owner, inn=f"2{tomorrow:%d%m%Y}00999"))
    assert response.status_code == 422
    assert "This INN does not contain a valid date of birth." in response.get_data(as_text=True)


def test_cashier_limits_at_their_boundary(owner, client, auth):
    response = post(client, auth, "/org/cashiers/new", new_cashier_data(owner, name="x" * NAME_MAX))
    assert response.status_code == 302


def test_a_deactivated_users_phone_can_be_reused(owner, client, auth):
    post(client, auth, f"/org/cashiers/{owner.cashier.public_id}/active", {"active": "0"})
    response = post(client, auth, "/org/cashiers/new", new_cashier_data(owner, phone=owner.cashier.phone))
    assert response.status_code == 302
    # …and then the old cashier cannot come back while the number is taken.
    response = post(client, auth, f"/org/cashiers/{owner.cashier.public_id}/active", {"active": "1"})
    assert response.status_code == 409
    assert "This phone number already belongs to an active user." in response.get_data(as_text=True)
    db.session.refresh(owner.cashier)
    assert owner.cashier.active is False


def test_edit_cashier_changes_name_and_point(owner, client, auth):
    cashier = owner.cashier
    response = post(client, auth, f"/org/cashiers/{cashier.public_id}",
                    {"point": owner.points[1].public_id, "name": "Нургуль А."})
    assert response.status_code == 302
    db.session.refresh(cashier)
    assert (cashier.name, cashier.point_id) == ("Нургуль А.", owner.points[1].id)


@pytest.mark.parametrize("tampered, message", [
    ({"inn": "21203199500999"}, "The INN cannot be changed."),
    ({"phone": "+996555000111"}, "The phone number cannot be changed."),
    ({"inn": "21203199500999", "phone": "+996555000111"}, "The INN and phone number cannot be changed.")])
def test_edit_refuses_inn_and_phone_changes_on_the_server(owner, client, auth, tampered, message):
    """#11: a tampered form said "This cannot be changed." twice, naming no field: one message names it."""
    cashier = owner.cashier
    response = post(client, auth, f"/org/cashiers/{cashier.public_id}",
                    {"point": owner.points[1].public_id, "name": "Renamed", **tampered})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.count("cannot be changed") == 1 and message in html and 'data-testid="fixed-error"' in html
    db.session.refresh(cashier)
    assert (cashier.inn, cashier.phone, cashier.name) == ("11203199500456", "+996700111222", "Нургуль Асанова")


def test_edit_accepts_the_same_phone_typed_differently(owner, client, auth):
    response = post(client, auth, f"/org/cashiers/{owner.cashier.public_id}",
                    {"point": owner.points[0].public_id, "name": "Нургуль", "phone": "0700 111 222",
                     "inn": "11203199500456"})
    assert response.status_code == 302


def test_the_owner_is_not_managed_as_a_cashier(owner, client, auth):
    assert client.get(f"/org/cashiers/{owner.owner.public_id}").status_code == 404
    assert post(client, auth, f"/org/cashiers/{owner.owner.public_id}/active", {"active": "0"}).status_code == 404
    db.session.refresh(owner.owner)
    assert owner.owner.active


def test_deactivation_ends_the_cashiers_sessions_at_once_and_sign_in_says_why(owner, client, auth, app):
    cashier_client = new_client(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"', cashier_client.get("/login").get_data(as_text=True)).group(1)
    cashier_client.post("/login", data={"login": "cashier", "password": "demo1234", "csrf_token": token})
    assert cashier_client.get("/").status_code == 200

    response = post(client, auth, f"/org/cashiers/{owner.cashier.public_id}/active", {"active": "0"})
    assert response.status_code == 302
    assert cashier_client.get("/").status_code == 302  # to the sign-in page
    assert db.session.scalar(select(func.count()).where(UserSession.user_id == owner.cashier.id,
                                                        UserSession.revoked_at.is_(None))) == 0

    token = re.search(r'name="csrf-token" content="([^"]+)"', cashier_client.get("/login").get_data(as_text=True)).group(1)
    refused = cashier_client.post("/login", data={"login": "cashier", "password": "demo1234", "csrf_token": token})
    assert refused.status_code == 401
    assert "This account has been deactivated." in refused.get_data(as_text=True)
    # A wrong password learns nothing about the account.
    wrong = cashier_client.post("/login", data={"login": "cashier", "password": "nope", "csrf_token": token})
    assert "Wrong login or password." in wrong.get_data(as_text=True)
    assert "deactivated" not in wrong.get_data(as_text=True)

    post(client, auth, f"/org/cashiers/{owner.cashier.public_id}/active", {"active": "1"})
    again = cashier_client.post("/login", data={"login": "cashier", "password": "demo1234", "csrf_token": token})
    assert again.status_code == 302


def test_resend_credentials_replaces_the_password(owner, client, auth, app):
    response = post(client, auth, f"/org/cashiers/{owner.cashier.public_id}/credentials", {})
    assert response.status_code == 302
    login, password = sent_credentials(owner.cashier.phone)
    assert login == "cashier"
    other = new_client(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)
    assert other.post("/login", data={"login": "cashier", "password": "demo1234", "csrf_token": token}).status_code == 401
    assert other.post("/login", data={"login": "cashier", "password": password, "csrf_token": token}).status_code == 302


# ---- The cashier's limited app (M10) -------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/org/"), ("GET", "/org/points/new"), ("POST", "/org/points/new"), ("GET", "/org/cashiers/new"),
    ("POST", "/org/cashiers/new"), ("GET", "/profile/point"), ("POST", "/profile/point"),
])
def test_a_cashier_gets_403_on_owner_screens(demo, client, auth, method, path):
    auth.login("cashier")
    points = count(Point)
    data = {**POINT, "csrf_token": auth.csrf("/")} if method == "POST" else None
    assert client.open(path, method=method, data=data).status_code == 403
    assert count(Point) == points


def test_a_cashier_gets_403_on_objects_of_their_merchant(demo, client, auth):
    auth.login("cashier")
    token = auth.csrf("/")
    assert client.get(f"/org/points/{demo.points[0].public_id}").status_code == 403
    assert client.post(f"/org/cashiers/{demo.cashier2.public_id}/active",
                       data={"active": "0", "csrf_token": token}).status_code == 403
    db.session.refresh(demo.cashier2)
    assert demo.cashier2.active


def test_the_cashiers_navigation_and_profile_hide_owner_things(demo, client, auth):
    auth.login("cashier")
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="shortcut-org"' not in home and "/org/" not in home
    profile = client.get("/profile/").get_data(as_text=True)
    assert demo.merchant.account_number not in profile
    assert "/profile/point" not in profile
    assert 'data-testid="write-operator"' in profile and "Центральный" in profile


# ---- Profile (M5) ------------------------------------------------------------------------------

@pytest.mark.parametrize("login", ["demo", "cashier"])
def test_every_profile_section_offered_opens_for_that_role(demo, client, auth, login):
    """A row on the Profile screen is a promise: a cashier was offered "Notifications" and got
    "Access denied" (#11). Each offered section must open for the one it is offered to."""
    auth.login(login)
    html = client.get("/profile/").get_data(as_text=True)
    links = re.findall(r'<a href="(/[^"]*)" data-testid="section-([^"]+)"', html)
    assert len(links) >= 3
    for href, endpoint in links:
        assert client.get(href).status_code == 200, (login, endpoint)
    assert ("notifications.index" in dict((e, h) for h, e in links)) == (login == "demo")


def test_owner_profile_shows_organisation_account_and_operator_chat(owner, client, app):
    html = client.get("/profile/").get_data(as_text=True)
    assert owner.merchant.legal_name in html and 'data-testid="profile-login">demo<' in html
    assert owner.merchant.account_number in html and "March 15, 2024" in html
    number = app.extensions["mkassa.settings"].operator_whatsapp
    link = re.search(r'href="(https://wa\.me/[^"]+)"[^>]*data-testid="write-operator"', html).group(1)
    assert link.startswith(f"https://wa.me/{number}?text=")
    assert "login%3A%20demo" in link
    assert 'data-testid="section-profile.point"' in html


def test_operator_number_is_the_banks_setting(owner, client, app, monkeypatch):
    settings = app.extensions["mkassa.settings"]
    monkeypatch.setitem(app.extensions, "mkassa.settings", replace(settings, operator_whatsapp="+996 700 000 001"))
    assert "https://wa.me/996700000001?text=" in client.get("/profile/").get_data(as_text=True)


def test_owner_chooses_and_switches_own_point(owner, client, auth):
    for point in (owner.points[1], owner.points[0]):
        response = post(client, auth, "/profile/point", {"point": point.public_id})
        assert response.status_code == 302
        db.session.refresh(owner.owner)
        assert owner.owner.point_id == point.id
        assert point.name in client.get("/profile/").get_data(as_text=True)


def test_owner_cannot_choose_another_merchants_point(owner, client, auth):
    _merchant, foreign, _owner = other_merchant()
    response = post(client, auth, "/profile/point", {"point": foreign.public_id})
    assert response.status_code == 422
    assert "Choose a point of sale." in response.get_data(as_text=True)
    db.session.refresh(owner.owner)
    assert owner.owner.point_id == owner.points[0].id
