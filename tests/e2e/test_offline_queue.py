"""The offline queue (issue #16) in real Chromium, offline by Playwright's context.set_offline.

What can wait (a new point, opening a shift...) is kept by the service worker and applied exactly
once when the connection is back, however often it is replayed; what the server refuses on replay
is shown with the server's message, to fix or discard; sign-out and another user's sign-in empty
the queue; what may never be queued (sign-in, payments) is refused offline and nothing is stored.
Background Sync events may not fire headless: these tests rely on the replay on `online` and on
app start, which every browser gets.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from mkassa.extensions import db
from mkassa.models import Point, Shift

from .test_pwa_browser import wait_for_active_worker

pytestmark = pytest.mark.e2e

# A replay waits for the server once per action; two cores shared by several test runs are slow.
REPLAY_MS = 30_000

# Where Workbox's Queue keeps the requests (workbox-background-sync): read from the page, which
# shares the origin's IndexedDB with the worker.
STORED_REQUESTS = """() => new Promise((done, fail) => {
    const open = indexedDB.open("workbox-background-sync");
    open.onerror = () => fail(open.error);
    open.onsuccess = () => {
        const idb = open.result;
        if (!idb.objectStoreNames.contains("requests")) { idb.close(); return done([]); }
        const all = idb.transaction("requests").objectStore("requests").getAll();
        all.onsuccess = () => { idb.close(); done(all.result); };
        all.onerror = () => fail(all.error);
    };
})"""


def count(model, **where) -> int:
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    n = db.session.scalar(stmt)
    db.session.rollback()  # a fresh read next time: the server commits in its own thread
    return n


def sign_in(page, login: str) -> None:
    page.goto("/login")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "demo1234")
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(lambda url: "/login" not in url)


@contextmanager
def phone_at_360(browser, live_server, lang: str, locale: str, login: str, folder: str):
    """A 360-px phone signed in as `login` in `lang`; yields (page, look): look(name) checks the screen
    as tests/e2e/test_screens.py checks every screen (fits, reads, 44 px targets, axe) and keeps a
    screenshot under test-results/screens/<folder>/. Every problem seen fails the test at the end."""
    from .test_screens import SCREENS_DIR, _check, _screenshot

    context = browser.new_context(base_url=live_server, locale=locale, viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []

    def look(name: str) -> None:
        problems.extend(_check(page, f"{lang} {name}", thumb=True, axe=True))
        _screenshot(page, SCREENS_DIR / folder / f"{lang}-360-{name}.png")

    try:
        sign_in(page, login)
        page.click(f"[data-testid=lang-{lang}]")
        page.wait_for_function("lang => document.documentElement?.lang === lang", arg=lang)
        yield page, look
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def ready(page) -> None:
    """The worker controls the page, so a form sent offline reaches it. clientsClaim() normally
    takes the open page at once; a navigation after activation always is controlled."""
    wait_for_active_worker(page)
    if not page.evaluate("() => navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def fill_point(page, name: str, address: str = "Чуй 1") -> None:
    page.fill("#f-name", name)
    page.fill("#f-address", address)
    page.fill("#f-latitude", "42.87")
    page.fill("#f-longitude", "74.59")


def queue_count(page) -> str:
    return page.locator('[data-testid="queue-count"]').first.inner_text()


def stored(page) -> int:
    return len(page.evaluate(STORED_REQUESTS))


def wait_stored(page, n: int) -> None:
    """Until the worker's store holds n requests (a replay moves entries out and back)."""
    page.wait_for_function(f"async () => (await ({STORED_REQUESTS})()).length === {n}")


def test_three_actions_queued_offline_survive_a_reload_and_apply_once(demo, page):
    demo.merchant.shift_mode = True
    db.session.commit()
    sign_in(page, "demo")
    page.goto("/org/points/new")
    ready(page)
    shifts = page.context.new_page()
    shifts.goto("/shifts/")
    other = page.context.new_page()
    other.goto("/org/points/new")
    points, open_shifts = count(Point), count(Shift, closed_at=None)

    page.context.set_offline(True)
    fill_point(page, "Киоск офлайн")
    page.click('[data-testid="point-save"]')
    expect(page.locator('[data-testid="queue-notice"]')).to_contain_text("New point")
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("1")
    assert page.locator("#f-name").input_value() == ""  # queued: the form is ready for the next one
    shifts.click('[data-testid="shift-open"]')
    expect(shifts.locator('[data-testid="queue-count"]')).to_have_text("2")
    fill_point(other, "Второй киоск")
    other.click('[data-testid="point-save"]')
    expect(other.locator('[data-testid="queue-count"]')).to_have_text("3")
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("3")  # every tab is told
    assert count(Point) == points and count(Shift, closed_at=None) == open_shifts

    # Reloaded offline: the offline page, the queue still there and counted.
    page.reload()
    expect(page.locator('[data-testid="offline"]')).to_be_visible()
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("3")
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-row"]')).to_have_count(3)
    expect(page.locator('[data-testid="queue-row"]').first).to_contain_text("New point")

    # The server applied the first one but its answer was lost: the same stored request, sent
    # once more with its own key, before the worker's replay. Sent by Playwright with the page's
    # cookies while the browser is still offline: back online, the browser's own replay starts at
    # once (background sync), and a send from the page then raced it for the same key (409).
    # Without the queue's own headers, or the worker would queue it again.
    first = page.evaluate(f"""async () => {{
        const r = (await ({STORED_REQUESTS})())[0].requestData;
        const headers = Object.fromEntries(Object.entries(r.headers).filter(([name]) => !/^x-mkassa-queue/i.test(name)));
        return {{url: r.url, method: r.method, headers, body: new TextDecoder().decode(r.body)}};
    }}""")
    answer = page.request.fetch(first["url"], method=first["method"], headers=first["headers"],
                                data=first["body"])
    assert answer.status == 200
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator('[data-testid="queue-row"]')).to_have_count(0, timeout=REPLAY_MS)
    expect(page.locator('[data-testid="queue-link"]')).to_be_hidden(timeout=REPLAY_MS)
    assert count(Point, name="Киоск офлайн") == 1 and count(Point, name="Второй киоск") == 1
    assert count(Point) == points + 2
    assert count(Shift, closed_at=None) == open_shifts + 1
    # A forced replay of an empty queue, twice at once, changes nothing.
    page.evaluate("""() => Promise.all([1, 2].map(() => new Promise((done) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = done;
        navigator.serviceWorker.controller.postMessage({source: "mkassa-queue", type: "replay"}, [channel.port2]);
    })))""")
    assert count(Point) == points + 2 and stored(page) == 0


def test_a_hundred_queued_actions_each_apply_once(demo, page):
    sign_in(page, "demo")
    page.goto("/org/points/new")
    ready(page)
    points = count(Point)
    page.context.set_offline(True)
    for n in range(100):
        fill_point(page, f"Точка {n:03d}")
        page.click('[data-testid="point-save"]')
        expect(page.locator('[data-testid="queue-count"]')).to_have_text(str(n + 1))
        # Queued: the form is emptied for the next one (typing before that would be wiped).
        expect(page.locator("#f-name")).to_have_value("")
    page.context.set_offline(False)
    # Two replays race (the online event and a forced one): the worker sends each entry once.
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.evaluate("navigator.serviceWorker.controller.postMessage({source: 'mkassa-queue', type: 'replay'})")
    expect(page.locator('[data-testid="queue-link"]')).to_be_hidden(timeout=120_000)
    assert count(Point) == points + 100
    names = db.session.scalars(select(Point.name).where(Point.name.like("Точка %"))).all()
    db.session.rollback()
    assert sorted(names) == [f"Точка {n:03d}" for n in range(100)]


def test_a_replay_the_server_refuses_is_shown_with_its_message_to_fix_or_discard(demo, page):
    sign_in(page, "demo")
    page.goto("/org/points/new")
    ready(page)
    points = count(Point)
    page.context.set_offline(True)
    fill_point(page, "Без адреса", address="")
    page.click('[data-testid="point-save"]')
    expect(page.locator("#f-name")).to_have_value("")  # queued, and the form emptied
    fill_point(page, "Передумал")
    page.click('[data-testid="point-save"]')
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("2")
    page.context.set_offline(False)
    page.goto("/queue")
    row = page.locator('[data-testid="queue-row"]')
    # The refused one stays, with the server's words; the other was sent.
    expect(row.locator('[data-testid="queue-error"]')).to_have_text("This field is required.", timeout=REPLAY_MS)
    expect(row).to_have_count(1)
    assert count(Point, name="Передумал") == 1 and count(Point, name="Без адреса") == 0
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("1")

    # Fix: the form comes back with what was sent; the fixed copy replaces the refused one.
    row.locator('[data-testid="queue-fix"]').click()
    expect(page.locator("#f-name")).to_have_value("Без адреса")
    page.fill("#f-address", "Ахунбаева 5")
    page.click('[data-testid="point-save"]')
    page.wait_for_url(re.compile(r"/org/(\?|$)"))  # the list, after the form
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-empty"]')).to_be_visible()
    assert count(Point, name="Без адреса") == 1 and count(Point) == points + 2

    # Discard: Cancel drops a refused action; nothing is applied.
    page.goto("/org/points/new")
    page.context.set_offline(True)
    fill_point(page, "", address="Нет имени")
    page.click('[data-testid="point-save"]')
    page.context.set_offline(False)
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-error"]')).to_have_count(1, timeout=REPLAY_MS)
    page.click('[data-testid="queue-cancel"]')
    expect(page.locator('[data-testid="queue-row"]')).to_have_count(0)
    assert stored(page) == 0 and count(Point) == points + 2


def test_sign_out_and_another_users_sign_in_clear_the_queue(demo, page):
    sign_in(page, "demo")
    page.goto("/org/points/new")
    ready(page)
    # Refused entries stay in the queue while online: what sign-out must clear.
    page.context.set_offline(True)
    fill_point(page, "Чужая", address="")
    page.click('[data-testid="point-save"]')
    page.context.set_offline(False)
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-error"]')).to_have_count(1, timeout=REPLAY_MS)
    wait_stored(page, 1)
    page.goto("/profile/")
    expect(page.locator('[data-testid="queue-count"]')).to_have_text("1")
    page.click('[data-testid="logout"]')
    page.wait_for_url(re.compile(r"/login"))
    assert stored(page) == 0  # emptied before the sign-out request left

    # Another user on the same phone without signing out (the session simply ended).
    sign_in(page, "demo")
    page.goto("/org/points/new")
    page.context.set_offline(True)
    fill_point(page, "Чужая", address="")
    page.click('[data-testid="point-save"]')
    page.context.set_offline(False)
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-row"]')).to_have_count(1)
    page.context.clear_cookies()
    sign_in(page, "cashier")
    page.goto("/queue")
    expect(page.locator('[data-testid="queue-empty"]')).to_be_visible()
    expect(page.locator('[data-testid="queue-row"]')).to_have_count(0)
    assert stored(page) == 0


def test_what_may_not_wait_is_refused_offline_and_nothing_is_stored(demo, page):
    page.goto("/login")
    ready(page)
    page.fill('input[name="login"]', "demo")
    page.fill('input[name="password"]', "demo1234")
    page.context.set_offline(True)
    page.click('[data-testid="login-submit"]')
    expect(page.locator('[data-testid="needs-connection"]')).to_have_text(
        "This needs a connection. What you typed stays here: try again when you are back online.")
    assert page.input_value('input[name="password"]') == "demo1234"  # kept on screen
    assert stored(page) == 0
    page.context.set_offline(False)
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(lambda url: "/login" not in url)

    # A payment: never queued either, on a phone that holds no reserved payment ids (with them, "QR"
    # is drawn offline instead: tests/e2e/test_offline_qr.py).
    page.goto("/pay/")
    page.fill("input[name=amount]", "75")
    page.wait_for_function("() => localStorage.getItem('mkassa-offline') !== null")
    page.evaluate("() => localStorage.removeItem('mkassa-offline')")
    page.context.set_offline(True)
    page.click("[data-testid=pay-qr]")
    expect(page.locator('[data-testid="needs-connection"]')).to_be_visible()
    assert page.input_value("input[name=amount]") == "75"
    assert stored(page) == 0
    expect(page.locator('[data-testid="queue-link"]')).to_be_hidden()
    page.context.set_offline(False)


@pytest.mark.parametrize("lang, locale", [("en", "en-US"), ("ru", "ru-RU"), ("ky", "ky-KG")])
def test_queue_screens_fit_and_read_at_360_px(demo, browser, live_server, lang, locale):
    """The badge and notice, "needs a connection", the queue offline and a refused action: each at
    360 px in each language, checked as tests/e2e/test_screens.py checks every screen (fits, reads,
    44 px targets, axe), with a screenshot under test-results/screens/queue/."""
    with phone_at_360(browser, live_server, lang, locale, "demo", "queue") as (page, look):
        context = page.context
        page.goto("/pay/")
        ready(page)
        page.fill("input[name=amount]", "75")
        page.wait_for_function("() => localStorage.getItem('mkassa-offline') !== null")
        page.evaluate("() => localStorage.removeItem('mkassa-offline')")  # no reserved ids on this phone
        context.set_offline(True)
        page.click("[data-testid=pay-qr]")
        expect(page.locator('[data-testid="needs-connection"]')).to_be_visible()
        look("accept-needs-connection")

        context.set_offline(False)
        page.goto("/org/points/new")
        context.set_offline(True)
        fill_point(page, "Без адреса", address="")
        page.click('[data-testid="point-save"]')
        expect(page.locator("#f-name")).to_have_value("")
        fill_point(page, "Киоск у парка")
        page.click('[data-testid="point-save"]')
        expect(page.locator('[data-testid="queue-count"]')).to_have_text("2")
        look("point-queued")
        page.goto("/queue")  # offline: the worker's copy
        expect(page.locator('[data-testid="queue-row"]')).to_have_count(2)
        look("queue-offline")

        context.set_offline(False)
        page.goto("/queue")
        try:
            expect(page.locator('[data-testid="queue-row"]')).to_have_count(1, timeout=REPLAY_MS)
        except AssertionError:
            print("DEBUG", lang, page.locator("main").inner_text(), page.evaluate(STORED_REQUESTS))
            raise
        expect(page.locator('[data-testid="queue-error"]')).to_have_count(1, timeout=REPLAY_MS)
        look("queue-refused")
