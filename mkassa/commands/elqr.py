"""`flask elqr decode LINK`: read an ELQR link the way a payer's bank app would, for support staff."""
from __future__ import annotations

import sys
from dataclasses import fields

import click
from flask.cli import AppGroup

from mkassa import elqr
from mkassa.money import to_decimal_str

elqr_cli = AppGroup("elqr", help="Inspect ELQR payment links (the national payment QR).")

EXIT_OK, EXIT_MISMATCH, EXIT_INVALID = 0, 1, 2


# Pure decoding needs no database or configuration: run even where the app context cannot start.
@elqr_cli.command("decode", with_appcontext=False)
@click.argument("link")
def decode(link: str) -> None:
    """Print every field of LINK, then whether its checksum holds.

    Exit status: 0 valid, 1 checksum mismatch, 2 not a valid ELQR link.
    """
    try:
        decoded = elqr.parse(link)
        expected = elqr.expected_checksum(link)
    except elqr.ElqrError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_INVALID)
    for line in _lines(decoded):
        click.echo(line)
    found = decoded.checksum or ""
    if found.upper() == expected:
        click.echo("checksum: ok")
        return
    click.echo(f"checksum: MISMATCH (found {found}, expected {expected})")
    sys.exit(EXIT_MISMATCH)


def _lines(decoded: elqr.Elqr) -> list[str]:
    lines = []
    for spec in fields(decoded):
        value = getattr(decoded, spec.name)
        if value is None or spec.name == "checksum":  # the checksum gets its own final verdict
            continue
        if spec.name == "additional":
            lines += [
                f"additional {item.template}: {item.key}:{item.label}:{item.value}:{item.title}:"
                f"{'visible' if item.visible else 'hidden'}"
                for item in value
            ]
        elif spec.name == "unknown":
            lines += [f"unknown {path}: {text}" for path, text in value.items()]
        elif spec.name == "amount":
            lines.append(f"amount: {value} tyiyn ({to_decimal_str(value)})")
        else:
            lines.append(f"{spec.name}: {value}")
    return lines
