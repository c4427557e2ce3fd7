"""The CLI's command groups are imported explicitly and all registered: a broken import stops the app
from starting (and this test), instead of a command quietly missing from `flask --help`."""
from mkassa.cli import COMMAND_GROUPS

EXPECTED = {"admin": {"create"}, "demo": {"seed", "bigdata"}, "outbox": {"once", "run"}, "rollup": {"check"},
            "elqr": {"decode"}}


def test_every_command_group_is_registered_with_its_commands(app):
    assert {group.name for group in COMMAND_GROUPS} == set(EXPECTED)
    for name, commands in EXPECTED.items():
        assert set(app.cli.commands[name].commands) == commands


def test_flask_lists_every_group(app):
    result = app.test_cli_runner().invoke(args=["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ") and line.strip()}
    assert set(EXPECTED) <= listed
