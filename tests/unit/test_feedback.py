"""Fast feedback (issue #14): `make check` is the quick subset, `make test` stays complete."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from hypothesis import settings

from ..conftest import HYPOTHESIS_CI_EXAMPLES, HYPOTHESIS_DEV_EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> str:
    """The commands of a Makefile target (its tab-indented lines)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    body = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert body, f"no target {target}"
    return body.group(1)


def test_the_ci_profile_is_hypothesis_full_default_and_dev_a_fraction_of_it():
    assert settings.get_profile("ci").max_examples == HYPOTHESIS_CI_EXAMPLES == settings.get_profile("default").max_examples
    assert settings.get_profile("dev").max_examples == HYPOTHESIS_DEV_EXAMPLES < HYPOTHESIS_CI_EXAMPLES


def test_slow_is_a_registered_marker():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini", encoding="utf-8")
    assert re.search(r"^slow:", ini["pytest"]["markers"], re.M)


def test_make_check_leaves_out_browsers_and_slow_tests_on_sqlite():
    check = recipe("check")
    assert '-m "not e2e and not slow"' in check and "--db=sqlite" in check and "-n 2" in check
    assert "--hypothesis-profile" not in check  # dev, unless CI=true


def test_make_test_runs_everything_with_the_ci_profile():
    for target in ("test-sqlite", "test-postgresql"):
        commands = recipe(target)
        assert "--hypothesis-profile=ci" in commands and not re.search(r"-m ['\"]", commands)  # no marker filter
    assert "test-sqlite" in recipe("test") and "test-postgresql" in recipe("test")
