#!/usr/bin/env python3
"""`make audit-deps`: pip-audit over the pinned requirements; a known vulnerability fails the build.

    python scripts/audit_deps.py            (run by `make test` before the test suites)

Every requirement of requirements.txt and requirements-dev.txt, with the dependencies pip resolves
for them, is looked up in PyPI's vulnerability data (`--vulnerability-service pypi`; OSV is not
reachable from every build machine). A vulnerability fails the audit unless `pip-audit-ignore.toml`
lists it with the reason it does not affect MKASSA and the date it was reviewed; an entry without a
reason or a date, or past its `expires` date, fails the audit too.

A dependency the service could not look up was not audited. Under CI (CI=true) some dependencies
left unaudited fail the build: "no known vulnerability" must mean that every dependency was checked.
When not one lookup answers, the data is out of the machine's reach: a loud warning that the audit
was not performed (anywhere), since no change to the code could make it pass.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
IGNORE_FILE = ROOT / "pip-audit-ignore.toml"
SERVICE = "pypi"


class AuditError(Exception):
    """The audit failed: a vulnerability, a bad ignore entry, or dependencies left unaudited under CI."""


@dataclass(frozen=True)
class Ignored:
    id: str
    reason: str
    reviewed: datetime.date
    expires: datetime.date | None


def read_ignores(path: Path = IGNORE_FILE, today: datetime.date | None = None) -> list[Ignored]:
    """The reviewed ignore list: every entry needs an id, a reason and a review date, and may expire."""
    if not path.exists():
        return []
    today = today or datetime.date.today()
    entries, problems = [], []
    for number, entry in enumerate(tomllib.loads(path.read_text()).get("ignore", []), 1):
        where = f"{path.name} entry {number} ({entry.get('id', 'no id')})"
        reason, reviewed, expires = entry.get("reason"), entry.get("reviewed"), entry.get("expires")
        if not isinstance(entry.get("id"), str) or not entry["id"].strip():
            problems.append(f"{where}: needs the vulnerability id")
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            problems.append(f"{where}: needs the reason it does not affect MKASSA")
        if not isinstance(reviewed, datetime.date) or isinstance(reviewed, datetime.datetime):
            problems.append(f"{where}: needs the date it was reviewed (reviewed = YYYY-MM-DD)")
        if expires is not None and (not isinstance(expires, datetime.date) or expires < today):
            problems.append(f"{where}: expired on {expires}: review it again")
        if not problems:
            entries.append(Ignored(entry["id"].strip(), reason.strip(), reviewed, expires))
    if problems:
        raise AuditError("\n".join(problems))
    return entries


def command(ignores: list[Ignored], output: Path) -> list[str]:
    # Not --strict: it stops at the first dependency it cannot look up; judge() reads them all instead.
    cmd = [sys.executable, "-m", "pip_audit", "--vulnerability-service", SERVICE,
           "--progress-spinner", "off", "--format", "json", "--output", str(output), "--desc", "off"]
    for requirement in REQUIREMENTS:
        cmd += ["--requirement", str(ROOT / requirement)]
    for entry in ignores:
        cmd += ["--ignore-vuln", entry.id]
    return cmd


def judge(report: dict, ci: bool) -> list[str]:
    """Read pip-audit's JSON report: raises AuditError on a vulnerability (or, under CI, on dependencies
    the service could not look up); returns the warnings to print otherwise."""
    dependencies = report.get("dependencies", [])
    found = [(d["name"], d["version"], v) for d in dependencies for v in d.get("vulns", [])]
    if found:
        raise AuditError("known vulnerabilities:\n" + "\n".join(
            f"  {name} {version}: {v['id']} ({', '.join(v.get('aliases', []))}) fixed in "
            f"{', '.join(v.get('fix_versions', [])) or 'no release yet'}" for name, version, v in found)
            + f"\nUpgrade (pinned) or, once reviewed, list it in {IGNORE_FILE.name} with a reason and a date.")
    skipped = [d for d in dependencies if d.get("skip_reason")]
    if not dependencies:
        raise AuditError("pip-audit reported no dependencies at all")
    if skipped and len(skipped) == len(dependencies):
        # Not one lookup answered: the vulnerability data is out of this machine's reach (some build
        # machines reach PyPI's package index but not its per-release JSON), so nothing was judged.
        # That is said loudly, never read as "no known vulnerability"; it cannot be fixed by the code.
        return [f"vulnerability data unreachable: none of the {len(dependencies)} dependencies could be "
                f"looked up ({skipped[0]['skip_reason']}); the audit was NOT performed on this machine"]
    if skipped:
        message = (f"{len(skipped)} of {len(dependencies)} dependencies could not be audited (first: "
                   f"{skipped[0]['name']}: {skipped[0]['skip_reason']}); is PyPI's vulnerability data reachable?")
        if ci:
            raise AuditError(message)
        return [message]
    return []


def main() -> int:
    try:
        ignores = read_ignores()
        with tempfile.TemporaryDirectory() as tmp:
            output = Path(tmp) / "audit.json"
            finished = subprocess.run(command(ignores, output), cwd=ROOT)
            if not output.exists():
                raise AuditError(f"pip-audit failed (exit {finished.returncode}) before writing its report")
            warnings = judge(json.loads(output.read_text()), ci=os.environ.get("CI") == "true")
    except AuditError as exc:
        print(f"audit-deps: FAILED: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"audit-deps: WARNING: {warning}", file=sys.stderr)
    if warnings and warnings[0].startswith("vulnerability data unreachable"):
        return 0
    print(f"audit-deps: no known vulnerability ({len(ignores)} reviewed and ignored)"
          + (" in what could be audited" if warnings else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
