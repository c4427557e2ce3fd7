"""Browser fixtures: Debian's Chromium driven by Playwright, the app served on localhost."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: CI runs the browser tests")
        pytest.skip("Chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def pay_in_sandbox(browser, base_url: str, link: str, amount: int | None = None) -> None:
    """The payer, on a phone of their own (a fresh browser context), pays an ELQR link in the sandbox
    bank's payer app; with `amount` (tyiyn), the app must have read that amount from the link first."""
    from playwright.sync_api import expect
    payer_context = browser.new_context(base_url=base_url, locale="en-US")
    try:
        payer = payer_context.new_page()
        payer.goto("/sandbox/pay#" + link.partition("#")[2])
        if amount is not None:
            expect(payer.locator("[data-testid=payer-amount]")).to_have_attribute("data-amount", str(amount))
        payer.click("[data-testid=payer-pay]")
        expect(payer.locator("[data-testid=payer-done]")).to_be_visible()
    finally:
        payer_context.close()
