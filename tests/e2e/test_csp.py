"""No Content-Security-Policy violation on the main screens (#12.9), in Chromium: the policy allows no
inline style or script, so any style="" attribute, <style> element or inline handler left in a template
or injected by a script (ours, htmx's, Leaflet's) shows up here as a `securitypolicyviolation` event.
Also the sandbox's mark, seen on a 360 px phone: visible, and covering nothing."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Payment, Point, User

# Every violation the page reports, collected from before its first script runs.
COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
                    + ` (${(e.sample || "").slice(0, 60)})`);
});
"""
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "instance" / "screenshots"


class Watch:
    """A browser context that records CSP violations and console errors of every page it opens."""

    def __init__(self, browser, base_url: str, **options):
        self.context = browser.new_context(base_url=base_url, locale="en-US", **options)
        self.context.add_init_script(COLLECT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and "Content Security Policy" in msg.text
                     and self.problems.append(f"{self.page.url}: console: {msg.text[:200]}"))

    def visit(self, path: str, settle=None) -> None:
        self.page.goto(path)
        self.page.wait_for_load_state("networkidle") if settle is None else settle(self.page)
        self.check()

    def check(self) -> None:
        self.page.wait_for_timeout(150)  # violation events are dispatched asynchronously
        self.problems += [f"{self.page.url}: {v}" for v in self.page.evaluate("window.__csp || []")]

    def sign_in(self, login: str, password: str = "demo1234") -> None:
        self.visit("/login")
        self.page.fill("[name=login]", login)
        self.page.fill("[name=password]", password)
        self.page.click("[data-testid=login-submit]")
        self.page.wait_for_url(re.compile(r"^(?!.*/login)"))
        self.check()

    def close(self) -> None:
        self.context.close()


def streaming(page) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)  # a live stream never lets the network go idle


def test_main_screens_raise_no_csp_violation(demo, browser, live_server, admin_user):
    point = db.session.scalar(select(Point).where(Point.merchant_id == demo.merchant.id).order_by(Point.id))
    point.reference = point.reference or "PT-CSP-0001"
    payment = db.session.scalar(select(Payment).where(Payment.merchant_id == demo.merchant.id).limit(1))
    db.session.commit()
    problems: list[str] = []

    visitor = Watch(browser, live_server)
    for path in ("/login", "/offline", "/recover", "/sandbox/sms", "/sandbox/pay", "/no-such-page"):
        visitor.visit(path)
    problems += visitor.problems
    visitor.close()

    owner = Watch(browser, live_server)
    owner.sign_in("demo")
    owner.visit("/", settle=streaming)
    for path in ("/reports/?period=month&status=all", "/reports/?period=today", "/account/", "/org/",
                 f"/org/points/{point.public_id}", "/org/points/new", f"/points/{point.public_id}/qr",
                 "/shifts/", "/profile/", "/profile/point", "/payouts/", f"/pay/{payment.public_id}"):
        owner.visit(path, settle=streaming if path.startswith("/pay/") else None)
    # htmx at work: a payment screen with its live stream, and a report filter swapped into the page.
    owner.visit("/pay/", settle=streaming)
    owner.page.fill("input[name=amount]", "12,34")
    owner.page.click("[data-testid=pay-qr]")
    owner.page.locator("[data-testid=payment-status]").wait_for()
    streaming(owner.page)
    owner.check()
    owner.visit("/reports/?period=month&status=all")
    with owner.page.expect_response(lambda r: "/reports/" in r.url and r.request.headers.get("hx-request")):
        owner.page.select_option("[data-testid=filter-period]", "week")  # htmx swaps the report in
    expect(owner.page).to_have_url(re.compile(r"period=week"))  # pushed once swapped
    owner.check()
    problems += owner.problems
    owner.close()

    admin = Watch(browser, live_server)
    admin.sign_in("operator", "operator-pass-1")
    for path in ("/admin/", "/admin/payments", "/admin/webhooks", "/admin/payouts", "/admin/outbox",
                 "/admin/audit", "/admin/users"):
        admin.visit(path)
    problems += admin.problems
    admin.close()

    assert not problems, "\n".join(problems)


def test_a_violation_would_be_seen(demo, browser, live_server):
    """Control: the watch does catch an inline style the policy refuses."""
    watch = Watch(browser, live_server)
    watch.visit("/login")
    watch.page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    watch.check()
    assert any("style-src" in problem for problem in watch.problems)
    watch.close()


def test_the_sandbox_mark_is_visible_and_covers_nothing_on_a_phone(demo, browser, live_server):
    watch = Watch(browser, live_server, viewport={"width": 360, "height": 740}, device_scale_factor=2)
    db.session.get(User, demo.owner.id).locale = "ky"  # the longest of the three texts
    db.session.commit()
    watch.sign_in("demo")
    for path in ("/", "/login"):
        watch.visit(path, settle=streaming)
        mark = watch.page.locator("[data-testid=sandbox-mark]")
        assert mark.is_visible()
        box = mark.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] == 0
        assert box["height"] <= 40  # small: one line, two at most
        # In the page's flow, on top: the header starts below it, nothing is drawn over it.
        header = watch.page.locator("header.app-header").bounding_box()
        assert header["y"] >= box["y"] + box["height"] - 0.5
        covering = watch.page.evaluate("""() => {
            const r = document.querySelector('[data-testid=sandbox-mark]').getBoundingClientRect();
            const el = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return el && el.closest('[data-testid=sandbox-mark]') ? null : (el ? el.outerHTML.slice(0, 80) : 'none');
        }""")
        assert covering is None
    text = watch.page.locator("[data-testid=sandbox-mark]").inner_text()
    assert text and "Sandbox" not in text  # translated
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watch.page.goto("/")
    streaming(watch.page)
    watch.page.screenshot(path=str(SCREENSHOTS / "sandbox-mark-360.png"))
    watch.close()
