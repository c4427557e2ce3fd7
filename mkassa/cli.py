"""Command-line tools: `flask admin`, `flask demo`, `flask outbox`, `flask rollup`, `flask elqr` (see `COMMAND_GROUPS`)."""
from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from .commands.elqr import elqr_cli
from .extensions import db
from .models import User

admin_cli = AppGroup("admin", help="Bank staff accounts.")
demo_cli = AppGroup("demo", help="Demo data (sandbox only).")
outbox_cli = AppGroup("outbox", help="Deliver queued SMS, e-mail, push and bank calls.")
rollup_cli = AppGroup("rollup", help="The report rollups (payment_day, payment_hour).")


@admin_cli.command("create")
@click.option("--login", required=True)
@click.option("--name", default="Bank operator")
@click.password_option(help="Asked for when not given.")
def admin_create(login: str, name: str, password: str) -> None:
    """Create a bank staff account (role admin)."""
    from .services.auth import hash_password
    if db.session.scalar(select(User.id).where(User.login == login)):
        raise click.ClickException(f"login {login!r} is taken")
    db.session.add(User(role="admin", login=login, name=name, password_hash=hash_password(password)))
    db.session.commit()
    click.echo(f"admin {login} created")


@demo_cli.command("seed")
@click.option("--payments", default=500, show_default=True)
def demo_seed(payments: int) -> None:
    """Seed the demo merchant once (does nothing if it exists); prints the demo logins."""
    from .services.demo import DEMO_LOGINS, seed
    if not current_app.extensions["mkassa.settings"].sandbox:
        raise click.ClickException("demo data is for the sandbox only")
    created = seed(payments=payments)
    db.session.commit()
    click.echo("demo data " + ("created" if created else "already present"))
    for role, login, password in DEMO_LOGINS:
        click.echo(f"  {role:8} login: {login:10} password: {password}")


@demo_cli.command("bigdata")
@click.option("--payments", default=1_000_000, show_default=True)
@click.option("--days", default=365, show_default=True)
def demo_bigdata(payments: int, days: int) -> None:
    """Add a large data set (merchant "Big Bazaar", login big / demo1234) for load checks."""
    from .services.bigdata import BIG_LOGIN, BIG_PASSWORD, analyze, generate
    if not current_app.extensions["mkassa.settings"].sandbox:
        raise click.ClickException("demo data is for the sandbox only")
    started = time.monotonic()
    result = generate(payments, days=days, echo=click.echo)
    analyze()
    click.echo(f"{result.payments} payments ({result.succeeded} paid), {result.transfers} transfers, "
               f"{result.entries} entries in {time.monotonic() - started:.0f} s")
    click.echo(f"  owner login: {BIG_LOGIN}  password: {BIG_PASSWORD}")


@outbox_cli.command("once")
def outbox_once() -> None:
    """Run every periodic job once, then deliver what is due now."""
    from .services import jobs
    from .services.outbox import dispatch_due
    for name, error in jobs.run_all().items():
        if error:
            click.echo(f"job {name} failed: {error}", err=True)
    click.echo(f"delivered {dispatch_due()}")


@outbox_cli.command("run")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between looks for due messages.")
def outbox_run(interval: float) -> None:
    """Deliver the outbox and run the periodic jobs until SIGTERM (the production worker).

    Survives any failure of a handler, a job or the database; several may run at once.
    """
    from .worker import Worker
    Worker(current_app._get_current_object(), kind="process", poll_seconds=interval).run_forever()


@rollup_cli.command("check")
@click.option("--days", default=None, type=click.IntRange(1, None),
              help="Bishkek days back, today included  [default: the periodic check's]")
def rollup_check(days: int | None) -> None:
    """Compare the rollups with the payments and rebuild what differs (what the periodic job does, over
    as many days as given: after a deploy whose old code wrote payments longer than that, for example)."""
    from .services import rollup
    found = rollup.check_rollups(days=days or rollup.CHECK_DAYS)
    click.echo(f"{found} rollup rows differed from the payments: rebuilt" if found else "rollups exact")


# Every command group, registered by `register`: imported at the top of this module, so a broken
# import fails the app's start (and tests/unit/test_cli.py) instead of silently dropping a command.
COMMAND_GROUPS = (admin_cli, demo_cli, outbox_cli, rollup_cli, elqr_cli)


def register(app: Flask) -> None:
    for group in COMMAND_GROUPS:
        app.cli.add_command(group)
