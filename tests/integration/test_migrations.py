"""Migrations: the Alembic head equals the models; every revision runs up and down."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from mkassa.extensions import db
from mkassa.models.base import schema_of


def _compare(conn):
    return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                   "include_object": schema_of(conn.dialect.name)}),
                            db.metadata)


def test_migrated_schema_equals_the_models(app):
    with db.engine.connect() as conn:
        assert _compare(conn) == []


@pytest.mark.slow  # every migration, up and down, on a database of its own
def test_every_revision_runs_up_and_down(make_app, scratch_database_url):
    app = make_app(database_url=scratch_database_url)
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        assert len(script.get_heads()) == 1, "revisions must form one line: chain the new one"
        revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
        for revision in revisions:
            upgrade(revision=revision)
        assert set(inspect(db.engine).get_table_names()) >= {t.name for t in db.metadata.sorted_tables}
        for _ in revisions:
            downgrade(revision="-1")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as conn:
            assert _compare(conn) == []
            if conn.dialect.name == "sqlite":  # migrations switch them off for table copies: back on after
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.slow  # a database of its own, migrated down and up
def test_new_report_indexes_get_statistics_where_the_others_have_them(make_app, scratch_database_url):
    """0021 on a SQLite database analyzed before: the indexes it makes are measured too. Without their
    statistics SQLite preferred the old indexes, and home read every paid payment of the shop."""
    from sqlalchemy import text

    from mkassa.services import bigdata
    app = make_app(database_url=scratch_database_url)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's planner statistics")
        upgrade()
        bigdata.generate(300, days=5, points=2, cashiers_per_point=2)
        db.session.commit()
        bigdata.analyze()
        # ... and the load's write-ahead log is checkpointed into the database file.
        wal = Path(db.engine.url.database + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        downgrade(revision="0020")
        stats = "SELECT idx FROM sqlite_stat1 WHERE idx IN ('ix_payment_merchant_paid', 'ix_payment_day_report')"
        with db.engine.connect() as conn:
            assert conn.execute(text(stats)).scalars().all() == []  # dropped with their indexes
        upgrade()
        with db.engine.connect() as conn:
            assert sorted(conn.execute(text(stats)).scalars()) == ["ix_payment_day_report", "ix_payment_merchant_paid"]
