from pathlib import Path

from modelledger.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), "docs/cli.md is stale: run `make docs`"


def test_every_command_is_documented_with_json():
    text = DOC.read_text(encoding="utf-8")
    for command in (
        "mledger init",
        "mledger model register",
        "mledger model show",
        "mledger model list",
        "mledger model lineage",
        "mledger model verify",
        "mledger model card",
        "mledger data snapshot",
        "mledger audit log",
        "mledger audit verify",
    ):
        section = text.split(f"## `{command}`", 1)[1].split("## `", 1)[0]
        assert "--json" in section, command
