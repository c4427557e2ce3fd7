"""`flask elqr decode`: fields one per line, the checksum verdict last, and the exit status."""
import pytest
from click.testing import Result
from flask import Flask

from mkassa.commands.elqr import elqr_cli

MBANK = (
    "https://app.mbank.kg/qr/#00020101021132440012c2c.mbank.kg010202101299655418551913021252049999"
    "53034175909KIRILL%20B.63047129"
)
OBANK = (
    "https://api.dengi.o.kg/#00020101021132680012p2p.dengi.kg0104858011125577259258211012996554185519"
    "1202121302123409%D0%9A%D0%98%D0%A0%D0%98%D0%9B%D0%9B%20%D0%91.52047399530341754065556005906"
    "O%21Bank630485D0"
)


def decode(link: str) -> Result:
    app = Flask(__name__)
    app.cli.add_command(elqr_cli)
    return app.test_cli_runner().invoke(args=["elqr", "decode", link])


def test_valid_link_prints_every_field_and_exits_0() -> None:
    result = decode(MBANK)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "type: static",
        "provider_id: c2c.mbank.kg",
        "service_code: 02",
        "recipient_id: 996554185519",
        "recipient_editable: False",
        "mcc: 9999",
        "currency: 417",
        "name: KIRILL B.",
        "version: 01",
        "checksum: ok",
    ]


def test_amount_and_cyrillic_text() -> None:
    result = decode(OBANK)
    assert result.exit_code == 0
    assert "amount: 555600 tyiyn (5556.00)" in result.stdout.splitlines()
    assert "comment: КИРИЛЛ Б." in result.stdout.splitlines()
    assert "amount_editable: False" in result.stdout.splitlines()


def test_checksum_mismatch_exits_1() -> None:
    result = decode(MBANK.replace("996554185519", "996554185518"))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].startswith("checksum: MISMATCH (found 7129, expected ")
    assert "recipient_id: 996554185518" in result.stdout


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("garbage", "error: offset 0: id 'ga' is not two digits"),
        ("https://app.mbank.kg/qr/#000201", "error: field 01 (type): missing"),
    ],
)
def test_invalid_link_exits_2_with_the_reason(link: str, message: str) -> None:
    result = decode(link)
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert result.stdout == ""
