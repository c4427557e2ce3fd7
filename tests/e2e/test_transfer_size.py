"""What a phone downloads to open the accept-payment screen the first time (#19: 153 KB before static
files were compressed). Bytes on the wire as Chromium counts them (headers and encoded bodies), with an
empty cache; a size, not a speed, so the same on any machine."""
from __future__ import annotations

# The budget for the first load of accept payment.
PAY_FIRST_LOAD_MAX_BYTES = 60 * 1024


def first_load_bytes(browser, live_server, storage_state, path: str, service_workers: str) -> tuple[int, list]:
    context = browser.new_context(base_url=live_server, locale="en-US", storage_state=storage_state,
                                  service_workers=service_workers)
    try:
        page = context.new_page()
        responses = []
        page.on("requestfinished", lambda request: responses.append(request))
        page.goto(path, wait_until="networkidle")
        assert page.get_by_test_id("amount-input").is_visible()
        rows = []
        for request in responses:
            sizes = request.sizes()
            rows.append((request.url, sizes["responseHeadersSize"] + sizes["responseBodySize"]))
        return sum(size for _, size in rows), rows
    finally:
        context.close()


def test_accept_payment_first_load_fits_the_budget(demo, browser, live_server):
    signing_in = browser.new_context(base_url=live_server, locale="en-US")
    try:
        page = signing_in.new_page()
        page.goto("/login")
        page.fill("[name=login]", "demo")
        page.fill("[name=password]", "demo1234")
        page.click("[data-testid=login-submit]")
        page.wait_for_load_state()
        state = signing_in.storage_state()
    finally:
        signing_in.close()

    total, rows = first_load_bytes(browser, live_server, state, "/pay/", service_workers="block")
    print(f"\naccept payment, first load: {total / 1024:.1f} KB in {len(rows)} requests")
    for url, size in sorted(rows, key=lambda row: -row[1]):
        print(f"  {size / 1024:6.1f} KB  {url.removeprefix(live_server)}")
    assert any(url.endswith(".css") for url, _ in rows)
    assert total <= PAY_FIRST_LOAD_MAX_BYTES
