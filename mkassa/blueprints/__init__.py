"""Blueprint registry: one package per area, thin views over services."""
from __future__ import annotations

from flask import Flask

from ..config import Settings


def register(app: Flask, settings: Settings) -> None:
    from . import admin, auth, home, profile, pwa
    for module in (auth, home, profile, admin, pwa):
        app.register_blueprint(module.bp)
    if settings.sandbox:
        # Sandbox bank tools exist only in sandbox mode; production never mounts them.
        from . import sandbox
        app.register_blueprint(sandbox.bp)
