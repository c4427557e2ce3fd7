"""The sandbox mail page (#11): e-mails of the embedded default (no MAIL_SERVER) land in
instance/mail/<outbox id>.eml; /sandbox/mail lists them and shows one, as /sandbox/sms does for SMS."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Merchant, OutboxMessage
from mkassa.services import outbox, shifts


def close_a_shift_with_a_report(demo) -> OutboxMessage:
    merchant = db.session.get(Merchant, demo.merchant.id)
    merchant.shift_mode, merchant.report_email, merchant.report_email_confirmed = True, "boss@example.com", True
    shift = shifts.open_shift(demo.cashier)
    shifts.close_shift(shift, demo.cashier)
    db.session.commit()
    assert outbox.dispatch_due() == 1
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "email"))


def test_the_sandbox_mail_page_lists_reads_and_hands_out_attachments(app, client, demo):
    queued = close_a_shift_with_a_report(demo)
    listing = client.get("/sandbox/mail")  # anonymous, like the SMS outbox: sandbox tools need no sign-in
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and html.count('data-testid="mail-row"') == 1
    assert 'data-testid="mail-to">boss@example.com<' in html
    link = re.search(r'<a href="(/sandbox/mail/(\d+))" data-testid="mail-subject">([^<]+)</a>', html)
    # (The subject is in the owner's language, Russian by default.)
    assert link and int(link.group(2)) == queued.id and link.group(3).startswith("Отчёт по смене: ")

    message = client.get(link.group(1)).get_data(as_text=True)
    text = re.search(r'<pre class="mail-text" data-testid="mail-text">(.*?)</pre>', message, re.S).group(1)
    assert "Нургуль Асанова" in text
    attachment = re.search(r'<a href="(/sandbox/mail/\d+/attachments/0)" download>([^<]+\.xlsx)</a>', message)
    assert attachment
    download = client.get(attachment.group(1))
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment;")
    assert load_workbook(io.BytesIO(download.data)).sheetnames == ["Платежи"]

    assert client.get(f"/sandbox/mail/{queued.id + 1}").status_code == 404
    assert client.get(f"/sandbox/mail/{queued.id}/attachments/1").status_code == 404


def test_the_sms_and_mail_pages_link_to_each_other_and_speak_the_language(client, demo):
    client.set_cookie("lang", "ky")
    sms = client.get("/sandbox/sms").get_data(as_text=True)
    assert 'href="/sandbox/mail"' in sms
    mail = client.get("/sandbox/mail").get_data(as_text=True)
    assert 'href="/sandbox/sms"' in mail and "E-mail outbox" not in mail

