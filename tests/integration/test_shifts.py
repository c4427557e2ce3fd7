"""Working in shifts (issue #6): shift rules at their boundaries, the report address and its
confirmation, and the shift report e-mailed through a real SMTP server (aiosmtpd) via the outbox."""
from __future__ import annotations

import email
import io
import re
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mkassa.blueprints.shifts import EMAIL_SENDS_PER_HOUR
from mkassa.extensions import db
from mkassa.models import Merchant, OutboxMessage, Payment, Shift, User, utcnow
from mkassa.money import format_amount
from mkassa.formatting import money_symbols
from mkassa.services import Conflict, Invalid, accept, export, jobs, outbox, shift_mail, shift_report, shifts
from mkassa.timeutil import BISHKEK

from ..conftest import FreshContextClient
from ..smtp_server import SmtpServer


# ----------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def english(client):
    """Messages are checked in English, whatever the catalogs hold."""
    client.set_cookie("lang", "en")


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(make_app, smtp, demo):
    """An app that sends e-mail to the test SMTP server; its context is the test's."""
    app = make_app(mail_server="127.0.0.1", mail_port=smtp.port)
    app.test_client_class = FreshContextClient
    with app.app_context():
        yield app
        db.session.remove()


def login(app, who: str):
    client = app.test_client()
    client.set_cookie("lang", "en")
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    response = client.post("/login", data={"login": who, "password": "demo1234", "csrf_token": token})
    assert response.status_code == 302
    client.token = token
    return client


def csrf_of(client, path: str = "/offline") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def shift_mode(merchant_id: int, on: bool = True, address: str | None = "owner@example.com",
               confirmed: bool = True) -> None:
    merchant = db.session.get(Merchant, merchant_id)
    merchant.shift_mode, merchant.report_email, merchant.report_email_confirmed = on, address, confirmed
    db.session.commit()


def open_shift(client) -> Shift:
    response = client.post("/shifts/open", data={"csrf_token": csrf_of(client)})
    assert response.status_code == 303
    db.session.commit()
    return db.session.scalars(select(Shift).order_by(Shift.id.desc())).first()


def take(client, amount: str) -> Payment:
    response = client.post("/pay/", data={"amount": amount, "csrf_token": csrf_of(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.commit()
    return db.session.scalar(select(Payment).where(Payment.public_id == response.location.rsplit("/", 1)[1]))


def pay(payment: Payment, bank: str = "MBANK") -> None:
    payment = db.session.get(Payment, payment.id)
    accept.confirm_success(payment, accept.Success(f"txn-{payment.public_id}", payment.amount, "417", bank,
                                                   "А***р К.", utcnow()))
    db.session.commit()


def close(client, shift: Shift):
    return client.post(f"/shifts/{shift.public_id}/close", data={"csrf_token": csrf_of(client)})


def emails_queued() -> list[OutboxMessage]:
    db.session.commit()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")))


def same_moment(cell: datetime, moment: datetime) -> bool:
    """An Excel time (Bishkek wall time, to the millisecond) is this moment."""
    return abs(cell - moment.astimezone(BISHKEK).replace(tzinfo=None)) < timedelta(milliseconds=1)


def bishkek(*args) -> datetime:
    return datetime(*args, tzinfo=BISHKEK)


# ------------------------------------------------------------------------ report by e-mail


def test_the_report_arrives_with_every_payment_in_the_excel_file(mail_app, demo, smtp):
    # The report speaks the owner's language, whoever closes the shift.
    db.session.get(User, demo.owner.id).locale = "en"
    db.session.get(User, demo.cashier.id).locale = "ky"
    shift_mode(demo.merchant.id)
    cashier = login(mail_app, "cashier")
    shift = open_shift(cashier)
    first, second, given_up = take(cashier, "123,45"), take(cashier, "50"), take(cashier, "10")
    pay(first)
    pay(second, bank="O!Bank")
    cashier.post(f"/pay/{given_up.public_id}/cancel", data={"csrf_token": csrf_of(cashier)})
    assert {p.shift_id for p in db.session.scalars(select(Payment).where(Payment.shift_id == shift.id))} == {shift.id}

    page = cashier.get(close(cashier, shift).location).get_data(as_text=True)
    assert 'data-amount="17345"' in page and 'data-count="2"' in page  # paid: 123,45 + 50,00
    assert 'data-method="qr" data-status="cancelled" data-count="1" data-amount="1000"' in page
    assert smtp.inbox.messages == []  # sent by the outbox, never inside the request

    assert outbox.dispatch_due() == 1
    [message] = smtp.inbox.messages
    assert message["To"] == "owner@example.com"
    assert "Нургуль Асанова" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert '<html lang="en">' in html and format_amount(17345, money_symbols("en")) in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == export.XLSX_MIMETYPE
    assert attachment.get_filename().startswith("mkassa-shift-") and attachment.get_filename().endswith(".xlsx")

    sheet = load_workbook(io.BytesIO(attachment.get_content()))["Payments"]
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    shift = db.session.get(Shift, shift.id)
    assert rows[0][:2] == ("Shift report", "ИП Демо Магазин")
    assert rows[1] == ("INN", "21505199000123") + (None,) * 5
    assert rows[2][:2] == ("Point", "Центральный") and rows[3][:2] == ("Cashier", "Нургуль Асанова")
    assert same_moment(rows[4][1], shift.opened_at) and same_moment(rows[5][1], shift.closed_at)
    assert rows[6][:2] == ("Closed automatically", "No")
    assert rows[8] == ("Date and time", "Payment", "Type", "Status", "Amount", "Paid at", "Payer")
    body = rows[9:12]
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in body] == [
        (first.public_id, "QR", "Paid", 123.45, "MBANK"),
        (second.public_id, "QR", "Paid", 50, "O!Bank"),
        (given_up.public_id, "QR", "Cancelled", 10, None)]
    assert same_moment(body[0][0], first.created_at) and same_moment(body[1][5], db.session.get(Payment, second.id).paid_at)
    assert body[2][5] is None  # never paid
    assert rows[12][:2] == ("Total", 3) and rows[12][4] == 183.45
    assert rows[13][:2] == ("Paid", 2) and rows[13][4] == 173.45
    assert len(rows) == 14
    assert sheet["E10"].number_format == '#,##0.00 "сом"'


def test_smtp_down_at_close_loses_nothing_and_delivers_once_when_back(mail_app, demo, smtp):
    shift_mode(demo.merchant.id)
    cashier = login(mail_app, "cashier")
    shift = open_shift(cashier)
    pay(take(cashier, "99"))
    smtp.stop()
    start = datetime.now(timezone.utc)
    with time_machine.travel(start, tick=False):
        assert close(cashier, shift).status_code == 303
        assert outbox.dispatch_due() == 0  # refused connection: kept for a retry
    [queued] = emails_queued()
    assert queued.status == "pending" and queued.attempts == 1 and queued.last_error
    retry_at = start + timedelta(seconds=outbox.backoff_seconds(1))
    assert queued.next_attempt_at == retry_at

    smtp.start()
    with time_machine.travel(retry_at - timedelta(seconds=1), tick=False):
        assert outbox.dispatch_due() == 0  # still backing off
    with time_machine.travel(retry_at, tick=False):
        assert outbox.dispatch_due() == 1
    with time_machine.travel(retry_at + timedelta(hours=1), tick=False):
        assert outbox.dispatch_due() == 0
        with pytest.raises(Conflict):  # a second close cannot queue a second report
            shifts.close_shift(db.session.get(Shift, shift.id), None)
        db.session.rollback()
        assert outbox.dispatch_due() == 0
    assert len(smtp.inbox.messages) == 1
    [queued] = emails_queued()
    assert queued.status == "sent" and queued.dedupe_key == f"shift-report:{shift.public_id}"


def test_without_smtp_the_email_is_written_to_instance_mail(app, demo, client, auth):
    """`make run` has no SMTP server: the message lands in instance/mail/<id>.eml for the developer."""
    shift_mode(demo.merchant.id)
    auth.login("cashier")
    shift = open_shift(client)
    close(client, shift)
    assert outbox.dispatch_due() == 1
    [queued] = emails_queued()
    path = Path(app.instance_path) / "mail" / f"{queued.id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "owner@example.com"
    assert [a.get_filename() for a in message.iter_attachments()] == [shift_report.report_file_name(shift)]


def test_reports_go_only_to_a_confirmed_address(app, demo, client, auth):
    shift_mode(demo.merchant.id, confirmed=False)
    auth.login("cashier")
    close(client, open_shift(client))
    shift_mode(demo.merchant.id, address=None)
    close(client, open_shift(client))
    assert emails_queued() == []


@pytest.mark.parametrize("confirmed", [True, False])
def test_closing_asks_first_and_says_where_the_report_goes(app, demo, client, auth, confirmed):
    """Closing had no confirmation and did not say where the report went (#11)."""
    shift_mode(demo.merchant.id, address="boss@example.com", confirmed=confirmed)
    auth.login("cashier")
    shift = open_shift(client)
    page = client.get(f"/shifts/{shift.public_id}").get_data(as_text=True)
    assert f'href="/shifts/{shift.public_id}/close"' in page
    asked = client.get(f"/shifts/{shift.public_id}/close")
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'data-testid="shift-close-submit"' in text
    assert ("The shift report will be e-mailed to boss@example.com." in text) == confirmed
    assert ("No report will be e-mailed" in text) != confirmed
    db.session.commit()
    assert db.session.get(Shift, shift.id).closed_at is None  # asking closes nothing
    done = client.post(f"/shifts/{shift.public_id}/close", data={"csrf_token": csrf_of(client)},
                       follow_redirects=True).get_data(as_text=True)
    if confirmed:
        assert "Shift closed. The report is on its way to boss@example.com." in done
    else:
        assert "Shift closed. No report was e-mailed: no confirmed address for shift reports." in done
    db.session.commit()
    assert db.session.get(Shift, shift.id).closed_at is not None
    assert len(emails_queued()) == (1 if confirmed else 0)
    # A closed shift is not asked about again.
    assert client.get(f"/shifts/{shift.public_id}/close").status_code == 302


# ------------------------------------------------------------------------------ shift rules


def test_paying_without_a_shift_prompts_to_open_one(app, demo, client, auth):
    auth.login("cashier")
    shift_mode(demo.merchant.id, on=False)
    outside = take(client, "10")
    assert outside.shift_id is None  # no shift mode: payments as before

    shift_mode(demo.merchant.id)
    page = client.get("/pay/")
    assert page.status_code == 200 and b'data-testid="shift-required"' in page.data
    before = db.session.scalar(select(func.count()).select_from(Payment))
    refused = client.post("/pay/", data={"amount": "25", "csrf_token": csrf_of(client)})
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "Open a shift to take payments." in text and 'data-testid="shift-open"' in text
    assert 'value="/pay/?amount=25"' in text  # back to the amount once the shift is open
    assert db.session.scalar(select(func.count()).select_from(Payment)) == before

    opened = client.post("/shifts/open", data={"csrf_token": csrf_of(client), "next": "/pay/?amount=25"})
    assert opened.location == "/pay/?amount=25"
    assert b'data-testid="shift-bar"' in client.get("/pay/?amount=25").data
    db.session.commit()
    shift = db.session.scalar(select(Shift))
    assert take(client, "25").shift_id == shift.id
    with pytest.raises(shifts.ShiftRequired):
        shifts.require_open_shift(db.session.get(User, demo.cashier2.id))


def test_one_open_shift_per_person(app, demo, client, auth):
    shift_mode(demo.merchant.id, address=None)
    auth.login("cashier")
    first = open_shift(client)
    again = client.post("/shifts/open", data={"csrf_token": csrf_of(client)}, follow_redirects=True)
    assert b"Your shift is already open." in again.data
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Shift)) == 1
    # The database keeps the rule too, whatever the code above it does.
    db.session.add(Shift(merchant_id=demo.merchant.id, cashier_id=demo.cashier.id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    # Another person has a shift of their own; after closing, a new one may open.
    other = shifts.open_shift(db.session.get(User, demo.cashier2.id))
    db.session.commit()
    close(client, first)
    second = open_shift(client)
    assert len({first.id, second.id, other.id}) == 3


def test_closing_twice_changes_nothing(app, demo, client, auth):
    shift_mode(demo.merchant.id)
    auth.login("cashier")
    shift = open_shift(client)
    close(client, shift)
    db.session.commit()
    closed_at = db.session.get(Shift, shift.id).closed_at
    again = client.post(f"/shifts/{shift.public_id}/close", data={"csrf_token": csrf_of(client)},
                        follow_redirects=True)
    assert b"This shift is already closed." in again.data
    db.session.commit()
    assert db.session.get(Shift, shift.id).closed_at == closed_at
    assert len(emails_queued()) == 1


def test_a_shift_left_open_closes_itself_at_four_bishkek(app, demo):
    shift_mode(demo.merchant.id)
    cashier = db.session.get(User, demo.cashier.id)
    with time_machine.travel(bishkek(2026, 11, 20, 22, 0), tick=False):
        shift = shifts.open_shift(cashier)
        db.session.commit()
    with time_machine.travel(bishkek(2026, 11, 21, 3, 59, 59), tick=False):
        assert shifts.close_overdue_shifts() == 0
        db.session.commit()
    assert db.session.get(Shift, shift.id).is_open
    with time_machine.travel(bishkek(2026, 11, 21, 4, 0), tick=False):
        jobs.run_all()
    shift = db.session.get(Shift, shift.id)
    assert shift.closed_at == bishkek(2026, 11, 21, 4, 0) and shift.closed_automatically
    assert shift.closed_by_id is None
    [report] = emails_queued()
    assert report.payload == {"type": "shift_report", "shift_id": shift.id}


def test_a_shift_opened_after_the_hour_waits_for_the_next_night(app, demo):
    shift_mode(demo.merchant.id)
    with time_machine.travel(bishkek(2026, 11, 21, 4, 0), tick=False):
        shift = shifts.open_shift(db.session.get(User, demo.cashier.id))
        db.session.commit()
    with time_machine.travel(bishkek(2026, 11, 22, 3, 59, 59), tick=False):
        assert shifts.close_overdue_shifts() == 0
    with time_machine.travel(bishkek(2026, 11, 22, 4, 0), tick=False):
        assert shifts.close_overdue_shifts() == 1
    db.session.commit()
    assert not db.session.get(Shift, shift.id).is_open


def test_the_closing_hour_is_a_setting(make_app, demo):
    later = make_app(shift_autoclose_hour=6)
    with later.app_context():
        shift_mode(demo.merchant.id)
        with time_machine.travel(bishkek(2026, 11, 20, 23, 0), tick=False):
            shifts.open_shift(db.session.get(User, demo.cashier.id))
            db.session.commit()
        with time_machine.travel(bishkek(2026, 11, 21, 5, 59, 59), tick=False):
            assert shifts.close_overdue_shifts() == 0
        with time_machine.travel(bishkek(2026, 11, 21, 6, 0), tick=False):
            assert shifts.close_overdue_shifts() == 1
        db.session.commit()
        db.session.remove()


# -------------------------------------------------------------------- settings and history


def test_shift_mode_is_the_owners_switch(app, demo, client, auth):
    auth.login("cashier")
    assert client.post("/shifts/settings", data={"csrf_token": csrf_of(client), "shift_mode": "on"}).status_code == 403
    auth.logout()
    auth.login("demo")
    assert b"shifts/settings" in client.get("/profile/").data
    assert client.post("/shifts/settings", data={"csrf_token": csrf_of(client), "shift_mode": "on"}).status_code == 303
    db.session.commit()
    assert db.session.get(Merchant, demo.merchant.id).shift_mode
    client.post("/shifts/settings", data={"csrf_token": csrf_of(client)})
    db.session.commit()
    assert not db.session.get(Merchant, demo.merchant.id).shift_mode


def confirmation_link(app) -> str:
    assert outbox.dispatch_due() == 1
    # The file of the message just sent (ids restart after each test's wipe; older files stay).
    sent = db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == "email")
                              .order_by(OutboxMessage.id.desc())).first()
    path = Path(app.instance_path) / "mail" / f"{sent}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return re.search(r"http://localhost/shifts/email/confirm\?token=[\w.\-]+", message.get_body(("plain",)).get_content()).group(0)


def test_the_report_address_is_confirmed_by_its_link(app, demo, client, auth):
    auth.login("demo")
    bad = client.post("/shifts/email", data={"csrf_token": csrf_of(client), "email": "not-an-address"})
    assert bad.status_code == 422 and b"Enter a valid e-mail address." in bad.data
    assert emails_queued() == []

    assert client.post("/shifts/email", data={"csrf_token": csrf_of(client), "email": "boss@example.com"}).status_code == 303
    link = confirmation_link(app)
    db.session.commit()
    merchant = db.session.get(Merchant, demo.merchant.id)
    assert merchant.report_email == "boss@example.com" and not merchant.report_email_confirmed

    auth.logout()  # the link works from any browser: it is the proof
    shown = client.get(link.removeprefix("http://localhost"))
    assert shown.status_code == 200 and b"boss@example.com" in shown.data
    db.session.commit()
    assert not db.session.get(Merchant, demo.merchant.id).report_email_confirmed  # opening is not confirming
    token = link.rsplit("=", 1)[1]
    done = client.post("/shifts/email/confirm", data={"csrf_token": csrf_of(client), "token": token})
    assert done.status_code == 200 and b'data-testid="email-confirmed"' in done.data
    db.session.commit()
    assert db.session.get(Merchant, demo.merchant.id).report_email_confirmed

    # A new address starts unconfirmed, and the old link no longer confirms anything.
    auth.login("demo")
    client.post("/shifts/email", data={"csrf_token": csrf_of(client), "email": "other@example.com"})
    refused = client.post("/shifts/email/confirm", data={"csrf_token": csrf_of(client), "token": token})
    assert refused.status_code == 400 and b"no longer set" in refused.data
    db.session.commit()
    merchant = db.session.get(Merchant, demo.merchant.id)
    assert merchant.report_email == "other@example.com" and not merchant.report_email_confirmed


def test_a_confirmation_link_expires(app, demo):
    merchant = db.session.get(Merchant, demo.merchant.id)
    merchant.report_email = "boss@example.com"
    db.session.commit()
    sent = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    with time_machine.travel(sent, tick=False):
        token = shift_mail.confirmation_token(merchant, "boss@example.com")
    with time_machine.travel(sent + timedelta(seconds=shift_mail.EMAIL_CONFIRM_MAX_AGE_SECONDS + 1), tick=False):
        with pytest.raises(Invalid, match="expired"):
            shift_mail.confirm_report_email(token)
    with time_machine.travel(sent + timedelta(seconds=shift_mail.EMAIL_CONFIRM_MAX_AGE_SECONDS), tick=False):
        assert shift_mail.confirm_report_email(token).report_email_confirmed
    with pytest.raises(Invalid, match="not valid"):
        shift_mail.confirm_report_email(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_confirmation_emails_are_limited_per_hour(app, demo, client, auth):
    auth.login("demo")
    for n in range(EMAIL_SENDS_PER_HOUR):
        assert client.post("/shifts/email", data={"csrf_token": csrf_of(client),
                                                  "email": f"a{n}@example.com"}).status_code == 303
    assert client.post("/shifts/email", data={"csrf_token": csrf_of(client), "email": "z@example.com"}).status_code == 429


def test_history_shows_the_owner_everything_and_a_cashier_their_own(app, demo, client, auth):
    shift_mode(demo.merchant.id, address=None)
    mine = shifts.open_shift(db.session.get(User, demo.cashier.id))
    theirs = shifts.open_shift(db.session.get(User, demo.cashier2.id))
    db.session.commit()
    auth.login("cashier")
    page = client.get("/shifts/").get_data(as_text=True)
    assert mine.public_id in page and theirs.public_id not in page
    assert client.get(f"/shifts/{theirs.public_id}").status_code == 404
    assert client.post(f"/shifts/{theirs.public_id}/close", data={"csrf_token": csrf_of(client)}).status_code == 404
    assert b'data-testid="shifts-link"' in client.get("/reports/").data
    auth.logout()
    auth.login("demo")
    page = client.get("/shifts/").get_data(as_text=True)
    assert mine.public_id in page and theirs.public_id in page
    # The owner may close a cashier's forgotten shift.
    assert client.post(f"/shifts/{theirs.public_id}/close", data={"csrf_token": csrf_of(client)}).status_code == 303
    db.session.commit()
    assert not db.session.get(Shift, theirs.id).is_open
