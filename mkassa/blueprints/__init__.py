"""Blueprint registry: one package per area, thin views over services."""
from __future__ import annotations

from flask import Flask

from ..config import Settings


def register(app: Flask, settings: Settings) -> None:
    from . import admin, auth, home, notifications, org, profile, pwa, qrcodes
    for module in (auth, home, profile, org, admin, pwa, qrcodes, notifications):
        app.register_blueprint(module.bp)
    from . import account, reports
    for module in (reports, account):
        app.register_blueprint(module.bp)
    from . import bank, pay
    for module in (pay, bank):
        app.register_blueprint(module.bp)
    from . import payouts, refunds
    app.register_blueprint(payouts.bp)
    app.register_blueprint(refunds.bp)
    from . import shifts
    app.register_blueprint(shifts.bp)
    from . import receipts
    app.register_blueprint(receipts.bp)
    from . import api
    app.register_blueprint(api.bp)
    if settings.sandbox:
        # Sandbox bank tools exist only in sandbox mode; production never mounts them.
        from ..gateways.sandbox import views as sandbox
        app.register_blueprint(sandbox.bp)
