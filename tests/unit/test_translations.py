"""Every string a person can see exists in Russian and Kyrgyz, and is really translated.

The messages are extracted afresh from the sources (as `make messages` does), so a string added to a
template or a service without updating the catalogs fails here too, not only an empty msgstr.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "mkassa" / "translations"
LANGUAGES = ("ru", "ky")

# Reviewed: the same word in every language (names, abbreviations). Keep this list short: anything
# else left equal to the English is an untranslated string.
SAME_IN_EVERY_LANGUAGE = frozenset({"MKASSA", "MBANK", "QR", "MCC", "OK", "MPOS", "RRN"})


@pytest.fixture(scope="module")
def source_msgids(tmp_path_factory) -> dict[object, object]:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "-q", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "N_", "-k", "lazy_gettext", "--no-location", "--sort-output",
                    "-o", str(pot), "mkassa"], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


def _catalog(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def _singular(msgid) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(source_msgids, language: str) -> None:
    catalog = _catalog(language)
    missing, untranslated, same = [], [], []
    for msgid in source_msgids:
        message = catalog.get(msgid)
        if message is None or message.fuzzy:
            missing.append(_singular(msgid))
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(forms):
            untranslated.append(_singular(msgid))
        elif _singular(msgid) not in SAME_IN_EVERY_LANGUAGE and forms[0] == _singular(msgid):
            same.append(_singular(msgid))
    assert not missing, f"{language}: not in the catalog (run make messages): {missing}"
    assert not untranslated, f"{language}: no translation: {untranslated}"
    assert not same, f"{language}: left in English: {same}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_messages_have_every_form(language: str) -> None:
    catalog = _catalog(language)
    for message in catalog:
        if message.id and message.pluralizable:
            assert len(message.string) == catalog.num_plurals and all(message.string), message.id


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match_the_english(language: str) -> None:
    """A translation that drops or renames %(amount)s fails at render time, in front of a user."""
    catalog = _catalog(language)
    problems = [(message.id, str(error)) for message, errors in catalog.check() for error in errors]
    assert not problems
