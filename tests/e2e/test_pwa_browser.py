"""The service worker and app.js in real Chromium: install, offline fallback, htmx headers.

Uses tests/e2e/conftest.py's `browser`, `page` (a fresh context per test, so a worker
registration never leaks into the next test) and `live_server` (the app on
http://localhost:PORT, a secure context for browsers, so service workers are allowed).
"""
from __future__ import annotations


def wait_for_active_worker(page) -> str:
    """Scope of the worker once activated, i.e. once the whole precache was downloaded."""
    return page.evaluate("""() => Promise.race([
        navigator.serviceWorker.ready.then(async (reg) => {
            const sw = reg.active;
            if (sw.state !== "activated") {
                await new Promise((done) => sw.addEventListener("statechange",
                                                                () => sw.state === "activated" && done()));
            }
            return reg.scope;
        }),
        new Promise((_, fail) => setTimeout(() => fail(new Error("no active service worker")), 15000)),
    ])""")


def test_service_worker_activates_and_manifest_is_linked(page, live_server):
    page.goto("/login")
    assert page.locator('head link[rel="manifest"]').get_attribute("href") == "/manifest.webmanifest"
    assert wait_for_active_worker(page) == f"{live_server}/"
    page.reload()
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def test_a_page_that_cannot_load_shows_the_offline_page(page, live_server):
    page.goto("/login")
    wait_for_active_worker(page)
    page.context.set_offline(True)
    try:
        page.goto("/login")
        assert page.locator('[data-testid="offline"]').is_visible()
        assert page.url == f"{live_server}/login"  # shown in place, so "Try again" reloads it
        assert page.locator("#offline-banner").is_visible()
    finally:
        page.context.set_offline(False)
    page.reload()
    assert page.locator('[data-testid="offline"]').count() == 0
    assert page.locator("#offline-banner").is_hidden()


def test_htmx_writes_carry_csrf_token_and_idempotency_key(browser, live_server):
    # Workers blocked: this is about app.js alone, and it keeps every request visible here.
    context = browser.new_context(base_url=live_server, service_workers="block")
    page = context.new_page()
    page.goto("/login")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    sent = []
    page.on("request", lambda r: "/probe" in r.url and sent.append((r.method, r.headers)))
    page.evaluate("""() => {
        const form = document.createElement("form");
        form.setAttribute("hx-post", "/probe");
        form.setAttribute("hx-swap", "none");
        form.innerHTML = '<input name="amount" value="100"><button id="go">Go</button>';
        document.body.append(form);
        htmx.process(form);
        const go = document.getElementById("go");
        go.click(); go.click();  // a double tap: htmx queues the second behind the first
    }""")
    page.wait_for_timeout(1000)
    page.evaluate("htmx.ajax('GET', '/probe', {swap: 'none'})")
    page.wait_for_timeout(500)
    context.close()
    posts = [headers for method, headers in sent if method == "POST"]
    gets = [headers for method, headers in sent if method == "GET"]
    assert len(posts) == 2 and len(gets) == 1
    assert all(headers["x-csrftoken"] == token for headers in posts)
    assert posts[0]["idempotency-key"] == posts[1]["idempotency-key"]  # one operation, one key
    assert "x-csrftoken" not in gets[0] and "idempotency-key" not in gets[0]
