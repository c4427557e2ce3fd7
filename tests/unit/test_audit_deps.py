"""`make audit-deps` (#12.10): a known vulnerability fails; the ignore list needs a reason and a date."""
from __future__ import annotations

import datetime
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
audit = importlib.util.module_from_spec(_spec)
sys.modules["audit_deps"] = audit
_spec.loader.exec_module(audit)

TODAY = datetime.date(2026, 11, 30)
JINJA_VULN = {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}


def report(*dependencies) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


def test_a_known_vulnerability_fails():
    with pytest.raises(audit.AuditError, match="jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 .*fixed in 3.1.3"):
        audit.judge(report({"name": "flask", "version": "3.1.3", "vulns": []},
                           {"name": "jinja2", "version": "3.1.2", "vulns": [JINJA_VULN]}), ci=False)


def test_audited_dependencies_without_vulnerabilities_pass():
    assert audit.judge(report({"name": "flask", "version": "3.1.3", "vulns": []}), ci=True) == []


def test_dependencies_that_could_not_be_audited_fail_under_ci_and_warn_elsewhere():
    skipped = report({"name": "flask", "version": "3.1.3", "vulns": []},
                     {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited"})
    with pytest.raises(audit.AuditError, match="1 of 2 dependencies could not be audited"):
        audit.judge(skipped, ci=True)
    [warning] = audit.judge(skipped, ci=False)
    assert "could not be audited" in warning
    with pytest.raises(audit.AuditError):
        audit.judge(report(), ci=False)


def test_unreachable_vulnerability_data_is_said_not_passed_off_as_clean():
    reason = "Dependency not found on PyPI and could not be audited"
    nothing = report({"name": "flask", "skip_reason": reason}, {"name": "jinja2", "skip_reason": reason})
    for ci in (True, False):
        [warning] = audit.judge(nothing, ci=ci)
        assert "NOT performed" in warning and "none of the 2" in warning


def test_the_command_audits_both_requirement_files_on_pypi_with_the_reviewed_ignores(tmp_path):
    ignores = [audit.Ignored("GHSA-aaaa-bbbb-cccc", "Not reachable from MKASSA.", TODAY, None)]
    cmd = audit.command(ignores, tmp_path / "out.json")
    assert cmd[1:3] == ["-m", "pip_audit"]
    assert ["--vulnerability-service", "pypi"] == cmd[cmd.index("--vulnerability-service"):][:2]
    assert "--no-deps" not in cmd  # the dependencies of the pins are audited too
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--requirement"] == [
        str(ROOT / "requirements.txt"), str(ROOT / "requirements-dev.txt")]
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--ignore-vuln"] == ["GHSA-aaaa-bbbb-cccc"]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "ignore.toml"
    path.write_text(text)
    return path


def test_an_ignore_entry_needs_a_reason_and_a_review_date(tmp_path):
    good = write(tmp_path, '[[ignore]]\nid = "GHSA-aaaa-bbbb-cccc"\nreason = "Only in the CLI we never ship."\n'
                           'reviewed = 2026-11-30\nexpires = 2027-02-28\n')
    [entry] = audit.read_ignores(good, TODAY)
    assert (entry.id, entry.reviewed, entry.expires) == ("GHSA-aaaa-bbbb-cccc", TODAY, datetime.date(2027, 2, 28))
    for broken, complaint in (
            ('[[ignore]]\nid = "GHSA-1"\nreviewed = 2026-11-30\n', "reason"),
            ('[[ignore]]\nid = "GHSA-1"\nreason = "ok"\nreviewed = 2026-11-30\n', "reason"),
            ('[[ignore]]\nid = "GHSA-1"\nreason = "Not used by MKASSA."\n', "date"),
            ('[[ignore]]\nid = "GHSA-1"\nreason = "Not used by MKASSA."\nreviewed = "soon"\n', "date"),
            ('[[ignore]]\nreason = "Not used by MKASSA."\nreviewed = 2026-11-30\n', "id"),
            ('[[ignore]]\nid = "GHSA-1"\nreason = "Not used by MKASSA."\nreviewed = 2026-01-01\n'
             'expires = 2026-11-29\n', "expired")):
        with pytest.raises(audit.AuditError, match=complaint):
            audit.read_ignores(write(tmp_path, broken), TODAY)


def test_the_repository_ignore_list_is_valid():
    for entry in audit.read_ignores():
        assert entry.reviewed <= datetime.date.today()


def test_main_fails_on_a_vulnerability_pip_audit_reports(monkeypatch, capsys):
    """The whole script, with pip-audit's run replaced by its report: exit 1 and the finding on stderr."""
    def fake_run(cmd, cwd):
        Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps(report(
            {"name": "jinja2", "version": "3.1.2", "vulns": [JINJA_VULN]})))
        return type("Finished", (), {"returncode": 1})()
    monkeypatch.setattr(audit.subprocess, "run", fake_run)
    assert audit.main() == 1
    assert "GHSA-h5c8-rqwp-cp95" in capsys.readouterr().err
