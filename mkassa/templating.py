"""Template filters and globals: money, local time, navigation."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .config import LOCALES
from .money import format_amount
from .timeutil import to_local

LANGUAGE_NAMES = {"ru": "Русский", "ky": "Кыргызча", "en": "English"}
# What the header's language buttons show: short enough for three thumb-sized buttons on a phone.
LANGUAGE_SHORT_NAMES = {"ru": "Рус", "ky": "Кыр", "en": "Eng"}

# Bottom navigation: (endpoint, label, icon). An item shows once its area exists.
OWNER_NAV = [("home.index", _l("Home"), "home"), ("pay.new", _l("Accept payment"), "qr"),
             ("reports.index", _l("Reports"), "chart"), ("profile.index", _l("Profile"), "user")]
CASHIER_NAV = [("home.index", _l("Home"), "home"), ("pay.new", _l("Accept payment"), "qr"),
               ("reports.index", _l("My reports"), "chart"), ("profile.index", _l("Profile"), "user")]


def money(tyiyn: int | None, currency: bool = True) -> str:
    return format_amount(tyiyn or 0, str(get_locale() or "ru"), currency=currency)


def local_dt(value: datetime | None, fmt: str = "short") -> str:
    return format_datetime(to_local(value), fmt) if value else ""


def local_time(value: datetime | None) -> str:
    return to_local(value).strftime("%H:%M") if value else ""


def nav_items():
    if not current_user.is_authenticated or current_user.is_admin:
        return []
    items = OWNER_NAV if current_user.is_owner else CASHIER_NAV
    views = current_app.view_functions
    return [(url_for(ep), label, icon, request.endpoint == ep or (request.endpoint or "").startswith(ep.split(".")[0] + "."))
            for ep, label, icon in items if ep in views]


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(local_dt, "local_dt")
    app.add_template_filter(local_time, "local_time")
    app.add_template_global(nav_items)
    app.add_template_global(LANGUAGE_NAMES, "LANGUAGE_NAMES")
    app.add_template_global(LANGUAGE_SHORT_NAMES, "LANGUAGE_SHORT_NAMES")
    app.add_template_global(LOCALES, "LOCALES")
    app.add_template_global(lambda: str(get_locale() or "ru"), "current_locale")
    app.add_template_global(lambda endpoint: endpoint in current_app.view_functions, "has_endpoint")
