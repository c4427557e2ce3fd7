"""The screen check (#11): every main screen, for each role that can open it, at phone widths (the
console at a desktop width), in Russian, Kyrgyz and English, looked at in Chromium as a person would:

- nothing wider than the screen (`documentElement.scrollWidth` ≤ the viewport width), no text drawn
  past its edges (a fixed full-screen layer is not counted in scrollWidth), no amount split over
  two lines, no select showing its
  choice cut short, and no box that scrolls sideways (a hidden column);
- every visible text readable: its contrast against the colour actually painted behind it ≥ 4.5:1
  (3:1 for large text), computed from the rendered styles (screen_check.js; axe's own rule missed
  white keypad digits on white keys);
- axe-core finds nothing (vendored, pinned: vendor/axe-core-4.10.3, from `npm pack axe-core@4.10.3`),
  run once per screen and language, at the narrowest width;
- on the merchant's screens every button and link is a thumb target, ≥ 44 × 44 CSS px;
- a full-page screenshot of each under test-results/screens/<role>/<lang>-<width>-<screen>.png, for a
  person to look through.

Every problem on every screen is collected and reported together, so one run shows all of them.
One browser; one page per role, reused across screens, widths and languages.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import OutboxMessage, Payment, Payout, Shift, utcnow
from mkassa.services import accept, card, devices, outbox, partner_api, payments, payouts, refunds, shifts, webhooks

HERE = Path(__file__).parent
AXE = (HERE / "vendor" / "axe-core-4.10.3" / "axe.min.js").read_text()
CHECK = (HERE / "screen_check.js").read_text()
SCREENS_DIR = HERE.parent.parent / "test-results" / "screens"

LANGS = ("ru", "ky", "en")
PHONE_WIDTHS = (360, 412)
CONSOLE_WIDTHS = (1366,)
HEIGHT = 800
MIN_TARGET = 44
PIN = "4825"
PASSWORD = "demo1234"
CODE = re.compile(r"(?<![\d,.])(\d{4})(?![\d,.])")


@dataclass
class Screen:
    name: str
    path: Callable[["Scene", str], str] | str
    roles: tuple[str, ...]
    # A merchant's phone screen (thumb-sized targets), not a sandbox tool or the desktop console.
    thumb: bool = True

    def url(self, scene: "Scene", role: str) -> str:
        return self.path(scene, role) if callable(self.path) else self.path


MERCHANT = ("owner", "cashier")
SCREENS = [
    # Anonymous: signing in and the sandbox tools.
    Screen("sign-in", "/login", ("anon",)),
    Screen("recover", "/recover", ("anon",)),
    Screen("lock", "/lock", ("anon",)),
    Screen("offline", "/offline", ("anon",)),
    Screen("queue", "/queue", ("anon", "owner")),  # the offline queue's page (#16); rows: test_offline_queue.py
    Screen("sandbox-sms", "/sandbox/sms", ("anon",), thumb=False),
    Screen("sandbox-mail", "/sandbox/mail", ("anon",), thumb=False),
    Screen("sandbox-mail-message", lambda s, r: f"/sandbox/mail/{s.mail}", ("anon",), thumb=False),
    Screen("sandbox-payer", lambda s, r: "/sandbox/pay?link=" + quote(s.pending_link, safe=""), ("anon",),
           thumb=False),
    # The payer's receipt, opened on their own phone without signing in.
    Screen("public-receipt", lambda s, r: f"/r/{s.receipt_token}", ("anon",)),
    Screen("sandbox-mpos", lambda s, r: "/sandbox/mpos?" + urlencode(
        {"payment_id": s.card_pending["owner"], "amount": 123450,
         "return_url": f"http://localhost/pay/{s.card_pending['owner']}"}), ("anon",), thumb=False),
    Screen("mpos-missing", "/pay/mpos-missing", ("anon",)),
    # The merchant's app.
    Screen("pin-new", "/quick-access", MERCHANT),
    Screen("home", "/", MERCHANT),
    Screen("accept-payment", "/pay/", MERCHANT),
    Screen("qr-pending", lambda s, r: f"/pay/{s.pending[r]}", MERCHANT),
    Screen("receipt", lambda s, r: f"/pay/{s.succeeded[r]}", MERCHANT),
    Screen("payment-failed", lambda s, r: f"/pay/{s.failed[r]}", MERCHANT),
    Screen("card-waiting", lambda s, r: f"/pay/{s.card_pending[r]}?mpos=approved", MERCHANT),
    Screen("card-receipt", lambda s, r: f"/pay/{s.card_succeeded[r]}", MERCHANT),
    Screen("card-declined", lambda s, r: f"/pay/{s.card_declined[r]}", MERCHANT),
    Screen("reports", "/reports/", MERCHANT),
    Screen("reports-month", "/reports/?period=month&status=all", MERCHANT),
    Screen("shifts", "/shifts/", MERCHANT),
    Screen("shift-open", lambda s, r: f"/shifts/{s.open_shift[r]}", MERCHANT),
    Screen("shift-closed", lambda s, r: f"/shifts/{s.closed_shift}", ("owner",)),
    Screen("profile", "/profile/", MERCHANT),
    Screen("devices", "/account/devices", MERCHANT),
    Screen("send-password", "/account/password", MERCHANT),
    Screen("payouts", "/payouts/", ("owner",)),
    Screen("payout-code", lambda s, r: f"/payouts/{s.payout_requested}/confirm", ("owner",)),
    Screen("payout", lambda s, r: f"/payouts/{s.payout_confirmed}", ("owner",)),
    Screen("refund-form", lambda s, r: f"/refunds/payment/{s.succeeded['owner']}", ("owner",)),
    Screen("refund-code", lambda s, r: f"/refunds/{s.refund_requested}/confirm", ("owner",)),
    Screen("refund-settings", "/refunds/settings", ("owner",)),
    Screen("account", "/account/", ("owner",)),
    Screen("org-points", "/org/", ("owner",)),
    Screen("org-cashiers", "/org/?tab=cashiers", ("owner",)),
    Screen("point-form", lambda s, r: f"/org/points/{s.point}", ("owner",)),
    Screen("cashier-form", lambda s, r: f"/org/cashiers/{s.cashier}", ("owner",)),
    Screen("point-qr", lambda s, r: f"/points/{s.point}/qr", ("owner",)),
    Screen("choose-point", "/profile/point", ("owner",)),
    Screen("shift-settings", "/shifts/settings", ("owner",)),
    Screen("shift-email", "/shifts/email", ("owner",)),
    Screen("notifications", "/notifications", ("owner",)),
    Screen("api-keys", "/profile/api-keys", ("owner",)),
    # The bank console (desktop).
    Screen("console", "/admin/", ("admin",), thumb=False),
    Screen("console-users", "/admin/users", ("admin",), thumb=False),
    Screen("console-payments", "/admin/payments", ("admin",), thumb=False),
    Screen("console-payouts", "/admin/payouts", ("admin",), thumb=False),
    Screen("console-refunds", "/admin/refunds", ("admin",), thumb=False),
    Screen("console-webhooks", "/admin/webhooks", ("admin",), thumb=False),
    Screen("console-outbox", "/admin/outbox", ("admin",), thumb=False),
    Screen("console-audit", "/admin/audit", ("admin",), thumb=False),
    Screen("console-callbacks", "/admin/callbacks", ("admin",), thumb=False),
    Screen("console-new-merchant", "/admin/merchants/new", ("admin",), thumb=False),
]
LOGINS = {"owner": "demo", "cashier": "cashier", "admin": "operator"}


class Scene:
    """The states the screens show, made through the services: a QR still waiting, a receipt, a
    failed payment, shifts open and closed (with payments), a withdrawal waiting for its code and
    one confirmed, a phone with quick access (for the lock screen)."""

    def __init__(self, app, demo, admin_user):
        settings = app.extensions["mkassa.settings"]
        merchant, owner, cashier = demo.merchant, demo.owner, demo.cashier
        users = {"owner": owner, "cashier": cashier}
        merchant.shift_mode = True
        # A confirmed report address: the closed shift below e-mails its report (the sandbox mail page).
        merchant.report_email, merchant.report_email_confirmed = "boss@example.com", True
        db.session.flush()
        self.open_shift = {role: shifts.open_shift(user).public_id for role, user in users.items()}
        closing = shifts.open_shift(demo.cashier2)
        self.pending, self.succeeded, self.failed = {}, {}, {}
        for role, user in users.items():
            pending = accept.create_qr_payment(user, "1234,50", settings)
            self.pending[role] = pending.public_id
            for status in ("succeeded", "failed"):
                paid = accept.create_qr_payment(user, "98765,50", settings)
                payments.transition(paid, status)
                if status == "succeeded":
                    paid.paid_at, paid.payer_bank, paid.payer_name_masked = utcnow(), "Optima Bank", "А*** Т."
                    payments.credit(paid)
                getattr(self, status)[role] = paid.public_id
        # Card payments (#15): waiting for the Bank after MPOS, approved, declined with its reason.
        self.card_pending, self.card_succeeded, self.card_declined = {}, {}, {}
        for role, user in users.items():
            self.card_pending[role] = card.create_card_payment(user, "1234,50", settings).public_id
            paid = card.create_card_payment(user, "98765,50", settings)
            paid.card_mask, paid.rrn, paid.auth_code = "4169 58** **** 1234", "612345678901", "A1B2C3"
            accept.mark_paid(paid, utcnow())
            self.card_succeeded[role] = paid.public_id
            declined = card.create_card_payment(user, "98765,50", settings)
            declined.card_mask = "5440 12** **** 0071"
            accept.record_failure(declined, "Insufficient funds")
            self.card_declined[role] = declined.public_id
        # The largest amounts a payment may carry: today's total and the month's run into millions,
        # the widest figures home, reports and the balances must still show whole.
        for amount, status in (("250", "succeeded"), ("80,50", "expired"), ("1500", "cancelled"),
                               ("999999,99", "succeeded"), ("999999,99", "succeeded")):
            payment = accept.create_qr_payment(demo.cashier2, amount, settings)
            payments.transition(payment, status)
            if status == "succeeded":
                payment.paid_at = utcnow()
                payments.credit(payment)
        shifts.close_shift(closing, by=demo.cashier2)
        self.closed_shift = closing.public_id
        self.pending_link = accept.payment_link(db.session.scalar(
            select(Payment).where(Payment.public_id == self.pending["owner"])), settings)
        requested = payouts.request_withdrawal(owner, "1500")
        confirmed = payouts.request_withdrawal(owner, "2000")
        db.session.flush()
        payouts.confirm(owner, confirmed, self._last_code())
        self.payout_requested, self.payout_confirmed = requested.public_id, confirmed.public_id
        # The owner's receipt with its refunds (one returned, one failed, one at the Bank), and a
        # refund waiting for its code.
        refunded = db.session.scalar(select(Payment).where(Payment.public_id == self.succeeded["owner"]))
        for amount, result in (("100", True), ("50,13", False), ("25", None)):
            refund = refunds.request_refund(owner, refunded, amount)
            db.session.flush()
            refunds.confirm(owner, refund, self._last_code())
            if result is not None:
                refunds.apply_bank_result(refund.public_id, result, "SBX-R-1", None if result else "Card closed")
        self.refund_requested = refunds.request_refund(owner, refunded, "10").public_id
        # A payer who paid an already paid QR: refused, and listed in the console's Webhook issues.
        # Committed first, as a real webhook finds it: a refused event keeps only itself (durable.keep)
        # and would roll back a scene still pending in its transaction.
        db.session.commit()
        paid = db.session.scalar(select(Payment).where(Payment.public_id == self.succeeded["owner"]))
        self.receipt_token = paid.receipt_token
        webhooks.ingest("msg_second_payer", json.dumps({"type": "payment.succeeded", "data": {
            "bank_txn_id": "MB-20261130-000777", "link_type": "dynamic", "transaction_id": paid.public_id,
            "amount": paid.amount, "currency": "417", "paid_at": utcnow().isoformat()}}).encode())
        self.point, self.cashier = demo.points[0].public_id, cashier.public_id
        # The partner API (#18): a key, and a payment whose callback the partner's server refused.
        api_key = partner_api.create_key(owner, "Web shop", None, settings).key
        api_payment, _extra = partner_api.create_payment(api_key, {
            "amount": 9900, "point_id": self.point, "callback_url": "http://127.0.0.1:9/mkassa/callbacks"}, settings)
        accept.cancel(api_payment)
        device = devices.start(owner, PIN)
        self.device_token = devices.confirm(device, PIN)
        db.session.commit()
        outbox.dispatch_due()  # the shift report lands in instance/mail/, the SMS in the sandbox
        self.mail = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "email"))

    @staticmethod
    def _last_code() -> str:
        msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "sms")
                                .order_by(OutboxMessage.id.desc()).limit(1))
        return CODE.search(msg.payload["text"]).group(1)


@pytest.fixture
def scene(app, demo, admin_user, monkeypatch):
    # A QR stays pending (and a withdrawal unsent to the sandbox bank) for the whole run.
    settings = app.extensions["mkassa.settings"]
    monkeypatch.setitem(app.extensions, "mkassa.settings",
                        replace(settings, payment_lifetime_seconds=3600, sandbox_payout_seconds=3600,
                                card_answer_seconds=3600,
                                sandbox_refund_seconds=3600))
    return Scene(app, demo, admin_user)


def _sign_in(page, role: str) -> None:
    if role == "anon":
        return
    page.goto("/login")
    page.fill("input[name=login]", LOGINS[role])
    page.fill("input[name=password]", "operator-pass-1" if role == "admin" else PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def _use_language(page, lang: str) -> None:
    """Through the header's language buttons, as a person would."""
    page.goto("/recover" if "/login" in page.url or page.url == "about:blank" else page.url)
    page.click(f"[data-testid=lang-{lang}]")
    page.wait_for_function("lang => document.documentElement?.lang === lang", arg=lang)


def _axe(page) -> list[str]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: the app's CSP (script-src 'self') stays in force
        # for the app's own pages, as a user gets them.
        page.evaluate(AXE + "\n;0")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => ({id: v.id, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + " :: " + (n.failureSummary || "").split("\\n").slice(1, 2).join(""))}));
    }""")
    return [f"axe {v['id']} ({v['help']}): {'; '.join(v['nodes'])}" for v in result]


def _screenshot(page, path: Path) -> None:
    """Full page, with the fixed bottom bar and button drawn where they sit once scrolled to the end
    (a full-page shot would otherwise paint them over the middle of the page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pinned = """on => {
        document.body.style.position = on ? "relative" : "";
        for (const el of document.querySelectorAll(".bottom-nav, .fab")) el.style.position = on ? "absolute" : "";
    }"""
    page.evaluate(pinned, True)   # CSSOM, which the CSP's style-src does not restrict
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    page.evaluate(pinned, False)


def _check(page, label: str, thumb: bool, axe: bool) -> list[str]:
    result = page.evaluate(CHECK, {"targets": thumb})
    problems = []
    if result["scrollWidth"] > result["viewport"]:
        problems.append(f"wider than the screen: {result['scrollWidth']} px > {result['viewport']} px")
    for c in result["cut"]:
        if c.get("split"):
            problems.append(f"amount split over two lines {c['el']} {c['text']!r}")
        elif c["el"].startswith("<select"):
            problems.append(f"choice cut short: needs {c['left']} px, has {c['right']} px {c['el']} {c['text']!r}")
        else:
            problems.append(f"text cut at the screen's edge ({c['left']}..{c['right']} px) {c['el']} {c['text']!r}")
    for b in result["sideways"]:
        problems.append(f"scrolls sideways, part of it hidden ({b['scrollWidth']} > {b['clientWidth']} px) {b['el']}")
    for c in result["contrast"]:
        problems.append(f"contrast {c.get('ratio')} < {c.get('need')} {c['el']} {c['text']!r} "
                        f"{c.get('color', '')} on {c.get('background', '')} {c.get('problem', '')}".rstrip())
    for t in result["targets"]:
        problems.append(f"tap target {t['width']}×{t['height']} < {MIN_TARGET} {t['el']} {t['text']!r}")
    if axe:
        problems += _axe(page)
    return [f"{label}: {p}" for p in problems]


def _visit(page, scene: Scene, role: str, screens: list[Screen], widths: tuple[int, ...]) -> list[str]:
    problems: list[str] = []
    for lang in LANGS:
        page.set_viewport_size({"width": widths[0], "height": HEIGHT})
        _use_language(page, lang)
        for screen in screens:
            url = screen.url(scene, role)
            response = page.goto(url)
            if response is None or response.status != 200:
                problems.append(f"{role} {lang} {screen.name} {url}: HTTP {response and response.status}")
                continue
            page.wait_for_load_state("load")
            for width in widths:
                page.set_viewport_size({"width": width, "height": HEIGHT})
                label = f"{role} {lang} {width} {screen.name}"
                # Most of axe's rules read the markup, the same at every width; what a width changes
                # (overflow, contrast, target sizes) screen_check.js measures at every width.
                problems += _check(page, label, thumb=screen.thumb, axe=width == widths[0])
                _screenshot(page, SCREENS_DIR / role / f"{lang}-{width}-{screen.name}.png")
    return problems


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s) a person would see:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ["anon", "owner", "cashier", "admin"])
def test_every_screen_fits_reads_and_passes_axe(browser, scene, live_server, role):
    # MKASSA_SCREENS=name,name: only these screens (a quick look at the ones a change touched).
    only = set(filter(None, os.environ.get("MKASSA_SCREENS", "").split(",")))
    screens = [s for s in SCREENS if role in s.roles and (not only or s.name in only)]
    if not screens:
        pytest.skip("none of MKASSA_SCREENS is this role's")
    widths = CONSOLE_WIDTHS if role == "admin" else PHONE_WIDTHS
    context = browser.new_context(base_url=live_server, locale="ru-RU",
                                  viewport={"width": widths[0], "height": HEIGHT})
    try:
        if role == "anon":
            context.add_cookies([{"name": devices.DEVICE_COOKIE, "value": scene.device_token,
                                  "url": live_server}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        _sign_in(page, role)
        problems = _visit(page, scene, role, screens, widths)
    finally:
        context.close()
    assert not problems, _report(problems)
