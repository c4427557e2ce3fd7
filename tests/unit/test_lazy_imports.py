"""The app loads without the libraries only a few paths use (issue #19: an export worker within 100 MB).

Alembic/Flask-Migrate (migrations), pywebpush with requests and aiohttp (sending a push), py_webauthn
(passkey ceremonies) and segno (drawing a QR) are imported where they are used. Each process that
never takes those paths (most web requests, every export) saves their memory, about 27 MB in all.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Top-level modules the loaded app must not have imported.
LOADED_ON_USE = ("alembic", "flask_migrate", "mako", "pywebpush", "requests", "aiohttp", "py_vapid", "webauthn",
                 "segno")

SCRIPT = """
import json, sys, tempfile
from mkassa import create_app
from mkassa.config import Settings
instance = tempfile.mkdtemp()
app = create_app(Settings(database_url=f"sqlite:///{instance}/x.sqlite3", instance_path=instance,
                          secret_key="t" * 48, outbox_inprocess=False))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _modules_after(script: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_loaded_app_has_not_imported_the_libraries_of_rare_paths():
    assert _modules_after(SCRIPT) & set(LOADED_ON_USE) == set()


def test_migrations_still_load_flask_migrate_when_asked():
    # The stand-in in app.extensions["migrate"] gives the real configuration flask_migrate.upgrade reads.
    script = SCRIPT.replace("print(", "cfg = app.extensions['migrate']\nassert cfg.directory.endswith('migrations')\n"
                                       "assert cfg.configure_args['render_as_batch'] is True\n"
                                       "with app.app_context(): assert cfg.migrate.get_config() is not None\nprint(", 1)
    assert {"flask_migrate", "alembic"} <= _modules_after(script)


def test_the_operators_flask_db_commands_run_as_the_readme_writes_them(tmp_path):
    """`make run` and every deploy run `flask --app wsgi db upgrade`: the stand-in group must pass the
    real group's options to its commands (it once failed with "AttributeError: directory")."""
    import os
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/op.sqlite3", "MKASSA_INSTANCE_PATH": str(tmp_path)}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    for args in (["upgrade"], ["-d", "migrations", "current"]):
        done = subprocess.run(flask + args, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "(head)" in done.stdout
