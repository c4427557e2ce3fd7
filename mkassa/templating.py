"""Template filters and globals: money and local time (from `formatting.py`), devices, navigation."""
from __future__ import annotations

from functools import wraps

from flask import Flask, current_app, request, url_for
from jinja2 import pass_context
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .config import LOCALES
from .formatting import local_dt, local_time, money, money_symbols
from .models.api import CallbackStatus
from .models.payment import PaymentStatus
from .models.payout import PayoutStatus
from .models.refund import RefundStatus
from .models.system import OutboxStatus
from .useragent import describe

LANGUAGE_NAMES = {"ru": "Русский", "ky": "Кыргызча", "en": "English"}
# What the header's language buttons show: short enough for three thumb-sized buttons on a phone.
LANGUAGE_SHORT_NAMES = {"ru": "Рус", "ky": "Кыр", "en": "Eng"}

# Bottom navigation: (endpoint, label, icon). An item shows once its area exists.
OWNER_NAV = [("home.index", _l("Home"), "home"), ("pay.new", _l("Accept payment"), "qr"),
             ("reports.index", _l("Reports"), "chart"), ("profile.index", _l("Profile"), "user")]
CASHIER_NAV = [("home.index", _l("Home"), "home"), ("pay.new", _l("Accept payment"), "qr"),
               ("reports.index", _l("My reports"), "chart"), ("profile.index", _l("Profile"), "user")]


# How often a page on a quick-access device tells the server it is still on screen. The shortest
# quick-lock time (a minute) must be well above it plus services.auth.ALIVE_TOUCH_SECONDS.
QUICK_LOCK_REPORT_SECONDS = 20


def device_name(user_agent: str | None) -> str:
    """"Chrome on Android", "Safari on iPhone": how people tell their devices apart."""
    browser, system = describe(user_agent)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or _("Unknown browser")


# The statuses templates name by kind: `{{ payment.status|status_label }}`,
# `{{ payout.status|status_label("payout") }}`, `status_choices("outbox")` for a filter's options.
STATUS_KINDS = {"payment": PaymentStatus, "payout": PayoutStatus, "refund": RefundStatus, "outbox": OutboxStatus,
                "callback": CallbackStatus}


def status_label(status: str, kind: str = "payment") -> str:
    """The words for a status, in the request's language (the enum's label)."""
    return str(STATUS_KINDS[kind](status).label)


def status_choices(kind: str) -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in STATUS_KINDS[kind].choices()]


def nav_items():
    if not current_user.is_authenticated or current_user.is_admin:
        return []
    items = OWNER_NAV if current_user.is_owner else CASHIER_NAV
    views = current_app.view_functions
    return [(url_for(ep), label, icon, request.endpoint == ep or (request.endpoint or "").startswith(ep.split(".")[0] + "."))
            for ep, label, icon in items if ep in views]


def _safe_next(target: str | None) -> str:
    """A `next` about to be printed into a link: checked again where it is rendered, home otherwise."""
    from .blueprints.common import safe_next
    return safe_next(target) or url_for("home.index")


def _per_request(fn):
    """A filter whose answer depends on the request (its language, its app): marked pass_context so
    that Jinja's compiler never folds it over constant arguments. `{{ 0|money(false) }}` was baked
    into the compiled template in the language of its first render ("0,00" on an English page)."""
    @pass_context
    @wraps(fn)
    def per_request(_context, *args, **kwargs):
        return fn(*args, **kwargs)
    return per_request


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(_per_request(money), "money")
    app.add_template_filter(_per_request(local_dt), "local_dt")
    app.add_template_filter(_per_request(device_name), "device_name")
    app.add_template_filter(_per_request(local_time), "local_time")
    app.add_template_filter(_per_request(_safe_next), "safe_next")
    app.add_template_filter(_per_request(status_label), "status_label")
    app.add_template_global(status_choices)
    app.add_template_global(nav_items)
    app.add_template_global(LANGUAGE_NAMES, "LANGUAGE_NAMES")
    app.add_template_global(LANGUAGE_SHORT_NAMES, "LANGUAGE_SHORT_NAMES")
    app.add_template_global(LOCALES, "LOCALES")
    app.add_template_global(lambda: str(get_locale() or "ru"), "current_locale")
    app.add_template_global(money_symbols)
    app.add_template_global(QUICK_LOCK_REPORT_SECONDS, "QUICK_LOCK_REPORT_SECONDS")
    app.add_template_global(lambda endpoint: endpoint in current_app.view_functions, "has_endpoint")
    app.add_template_global(lambda: current_app.extensions["mkassa.settings"].sandbox, "sandbox_mode")
