"""Flask extensions, created unbound and initialised in create_app()."""
import logging

import click
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so Alembic can alter them on every database (SQLite batch mode included).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LazyMigrate:
    """Flask-Migrate, loaded when migrations run (`flask db …`, flask_migrate.upgrade), not with the app.

    Flask-Migrate imports Alembic and Mako (about 15 MB of memory) that a web, worker or export process
    never uses. app.extensions["migrate"] is a stand-in that builds the real configuration on first
    access, and `flask db` a group that loads Flask-Migrate's commands when it is run.
    """

    def init_app(self, app, db, **kwargs) -> None:
        app.extensions["migrate"] = _MigrateConfigOnDemand(db, kwargs)
        app.cli.add_command(_DbGroup("db", help="Perform database migrations."))


class _MigrateConfigOnDemand:
    def __init__(self, db, kwargs) -> None:
        self._db, self._kwargs, self._real = db, kwargs, None

    def __getattr__(self, name: str):
        # Only called for attributes not set in __init__: migrate, db, directory, configure_args…
        if self._real is None:
            _quiet_alembic_plugins()
            from flask_migrate import Migrate, _MigrateConfig
            migrate = Migrate(db=self._db, **self._kwargs)
            self._real = _MigrateConfig(migrate, self._db, **migrate.alembic_ctx_kwargs)
        return getattr(self._real, name)


def _quiet_alembic_plugins() -> None:
    # Alembic logs each of its plugins at INFO when first imported; imported late, past the app's
    # logging set-up, those lines would clutter every `flask db upgrade`.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


class _DbGroup(click.Group):
    def _real(self) -> click.Group:
        _quiet_alembic_plugins()
        from flask_migrate.cli import db as group
        return group

    # The real group's options (-d, -x) and its callback, which puts them on `g` for the commands:
    # without them every `flask db …` command fails (AttributeError: directory).
    def get_params(self, ctx):
        return self._real().get_params(ctx)

    def invoke(self, ctx):
        self.callback = self._real().callback
        return super().invoke(ctx)

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._real().get_command(ctx, name)


db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()
login_manager = LoginManager()
# Sign-in lives in the server-side session row (security.load_user_from_request): its idle, absolute
# and quick-lock limits. Flask-Login's own protection would only write "_fresh" into the cookie on
# the first answer after sign-in, whichever it is; written from a request that set out with an
# older cookie, that answer put the older session back (see SESSION_REFRESH_EACH_REQUEST).
login_manager.session_protection = None
csrf = CSRFProtect()
babel = Babel()
mail = Mail()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
