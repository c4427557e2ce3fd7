"""Scale-out, as docs/DEPLOY.md lays it out: two `gunicorn wsgi:app` web processes and two `flask outbox
run` workers on one PostgreSQL and Redis (the test's own database), Chromium in front of a small
failover proxy. A payment made through web 1 is paid by a webhook into web 2, and web 1's stream shows
it; then web 1 is killed in the middle of a stream, and the page, reconnecting through the proxy to
web 2, still turns to success. PostgreSQL only (skipped on SQLite)."""
from __future__ import annotations

import json
import time
import urllib.request

from sqlalchemy import select

from mkassa.extensions import db
from mkassa.models import Payment

from ..integration.servers import (Client, FailoverProxy, Processes, free_port, require_postgresql_and_redis,
                                   sandbox_env)
from ..integration.test_pay_qr import signed, succeeded


def pay_by_webhook(port: int, public_id: str) -> None:
    db.session.expire_all()
    payment = db.session.scalar(select(Payment).where(Payment.public_id == public_id))
    body = json.dumps(succeeded(payment))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/bank/webhooks", data=body.encode(),
                                     headers=signed(body))
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    db.session.rollback()


def new_payment(page, amount: str) -> str:
    from playwright.sync_api import expect
    page.goto("/pay/")
    page.fill("input[name=amount]", amount)
    page.click("[data-testid=pay-qr]")
    expect(page.locator("[data-testid=payment-status]")).to_have_attribute("data-status", "pending")
    return page.url.rstrip("/").rsplit("/", 1)[1]


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_web_processes_two_workers_and_a_crash_mid_stream(app, demo, browser, request, database_url,
                                                              tmp_path):
    from playwright.sync_api import expect
    require_postgresql_and_redis(request)
    processes, proxy, context = Processes(tmp_path), None, None
    try:
        # PUBLIC_BASE_URL is the proxy's: absolute links go where the browser is.
        proxy_port = free_port()
        env = sandbox_env(database_url, tmp_path / "instance", f"http://127.0.0.1:{proxy_port}")
        web1, port1 = processes.gunicorn(env, "web1")
        _, port2 = processes.gunicorn(env, "web2")
        for number in (1, 2):
            processes.outbox_worker(env, f"worker{number}")
        proxy = FailoverProxy([port1, port2], port=proxy_port)
        # Both workers beat their heartbeat: every web process reports ready.
        wait_for(lambda: all(Client(port).get("/readyz").status == 200 for port in (port1, port2)))

        context = browser.new_context(base_url=proxy.url, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(20_000)
        # Counts the page's established streams (htmx's hx-sse event), per page load.
        page.add_init_script("document.addEventListener('htmx:sse:after:connection', "
                             "() => { window.streams = (window.streams || 0) + 1; })")
        page.goto("/login")
        page.fill("[name=login]", "demo")
        page.fill("[name=password]", "demo1234")
        page.click("[data-testid=login-submit]")
        page.wait_for_load_state()
        status = page.locator("[data-testid=payment-status]")

        # 1. Created through web 1 (the proxy's first choice), paid into web 2, shown by web 1's stream.
        first = new_payment(page, "10,00")
        wait_for(lambda: (port1, f"GET /pay/{first}/events HTTP/1.1") in proxy.routed)
        assert all(port == port1 for port, _ in proxy.routed)
        pay_by_webhook(port2, first)
        expect(status).to_have_attribute("data-status", "succeeded")

        # 2. Web 1 dies in the middle of the next payment's stream; the page reconnects to web 2.
        second = new_payment(page, "20,00")
        wait_for(lambda: page.evaluate("window.streams") == 1)
        assert (port1, f"GET /pay/{second}/events HTTP/1.1") in proxy.routed
        processes.kill(web1)
        wait_for(lambda: page.evaluate("window.streams") == 2)
        assert (port2, f"GET /pay/{second}/events HTTP/1.1") in proxy.routed
        pay_by_webhook(port2, second)
        expect(status).to_have_attribute("data-status", "succeeded")
        expect(page.locator("[data-testid=payment-receipt]")).to_contain_text("MBANK")
    finally:
        if context is not None:
            context.close()
        if proxy is not None:
            proxy.close()
        processes.stop()
