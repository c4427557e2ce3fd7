"""Quick lock in Chromium (#11): the installed app, reopened after longer in the background than the
shop's quick-lock time, shows the lock screen; reopened sooner, it carries on.

The background is simulated (headless Chromium is never hidden): the page is told it is hidden, and
the time spent away is written into the session as the server would have seen it pass.
"""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from mkassa.extensions import db
from mkassa.models import UserSession, utcnow
from mkassa.models.merchant import QUICK_LOCK_DEFAULT_MINUTES

from .test_quick_access import PIN, _first_sign_in, _type_pin

SET_VISIBILITY = """(hidden) => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => hidden ? "hidden" : "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def _report(response) -> bool:
    return response.url.endswith("/session/open") and response.request.method == "POST"


def _away(app, page, minutes: float) -> None:
    with page.expect_response(_report):  # the page's last word as it goes to the background
        page.evaluate(SET_VISIBILITY, True)
    with app.app_context():
        db.session.execute(update(UserSession).values(alive_at=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


def test_reopened_after_the_quick_lock_time_the_app_shows_the_lock_screen(app, demo, page):
    _first_sign_in(page)
    page.goto("/profile/")
    assert page.locator('meta[name="quick-lock"]').count() == 1
    # Back within the limit: it carries on.
    _away(app, page, QUICK_LOCK_DEFAULT_MINUTES - 0.5)
    with page.expect_response(_report) as report:
        page.evaluate(SET_VISIBILITY, False)
    assert report.value.status == 204 and page.url.endswith("/profile/")
    # Back after longer than the limit: the lock screen, then the same page again.
    _away(app, page, QUICK_LOCK_DEFAULT_MINUTES + 0.5)
    page.evaluate(SET_VISIBILITY, False)
    page.wait_for_url(re.compile(r"/lock\?next=(/|%2F)profile(/|%2F)$"))
    page.get_by_test_id("lock-screen").wait_for()
    _type_pin(page, PIN)
    page.wait_for_url(re.compile(r"/profile/$"))
