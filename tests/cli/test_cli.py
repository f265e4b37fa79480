"""The command line as a user meets it, on both backends."""

import os

import pytest

from tests.conftest import jrun, write


def test_help_reads_well(cli):
    root = cli("--help").stdout
    for group in ("init", "model", "data", "audit", "demo"):
        assert group in root
    for sub in (
        ["model", "register"],
        ["model", "show"],
        ["model", "list"],
        ["model", "lineage"],
        ["model", "verify"],
        ["model", "card"],
        ["audit", "log"],
        ["audit", "verify"],
        ["data", "snapshot"],
    ):
        text = cli(*sub, "--help").stdout
        assert "Usage" in text and "--json" in text


def test_no_ledger_is_one_clear_line(cli):
    result = cli("model", "list", code=2)
    assert result.stderr.strip().count("\n") == 0
    assert "run `mledger init`" in result.stderr
    assert result.stdout == ""


def test_register_show_list_lineage_verify(ledger_cli, project):
    cli = ledger_cli
    write(project / "data" / "train.csv", "carrier,delay\nups,0\n")
    snap = jrun(cli, "data", "snapshot", "data", "--name", "shipments")
    assert snap["id"].startswith("ds-") and snap["created"]
    write(project / "params.yaml", "lr: 0.1\nlayers: [64, 32]\n")
    write(project / "model.pkl", b"weights")
    register = (
        "model",
        "register",
        "delay",
        "--artifact",
        "model.pkl",
        "--data",
        f"{snap['id']}:train",
        "--params-file",
        "params.yaml",
        "--param",
        "lr=0.05",
        "--seed",
        "7",
        "--code-ref",
        "train@abc",
    )
    v = jrun(cli, *register)
    assert v["label"] == "delay@1" and v["created"]
    assert v["tuple"]["params"] == {"lr": 0.05, "layers": [64, 32]}
    again = cli(*register).stdout
    assert "already registered as delay@1" in again
    shown = jrun(cli, "model", "show", "delay@1")
    assert shown["id"] == v["id"] and shown["registered_by"] == "carol"
    assert jrun(cli, "model", "show", v["id"][:10])["id"] == v["id"]
    assert "delay@1" in cli("model", "show", "delay@1").stdout
    assert [x["label"] for x in jrun(cli, "model", "list")] == ["delay@1"]
    assert "delay@1" in cli("model", "list").stdout
    lineage = jrun(cli, "model", "lineage", "delay@1")
    assert lineage["data"] == [{"id": snap["id"], "role": "train", "name": "shipments"}]
    assert "shipments" in cli("model", "lineage", "delay@1").stdout
    assert jrun(cli, "model", "verify", "delay@1")["ok"]
    assert cli("model", "verify", "delay@1").stdout.startswith("ok:")
    log = jrun(cli, "audit", "log")
    assert [e["kind"] for e in log] == ["data.snapshot", "model.registered", "drift.profile"]
    check = jrun(cli, "audit", "verify")
    assert check["ok"] is True and check["damage"] == [] and check["events"] == 3
    assert check["head"] == log[-1]["hash"] and len(check["root"]) == 64
    assert check["rows"]["model_versions"] == 1 and check["rows"]["snapshots"] == 1


def test_verify_fails_with_exit_1_on_a_corrupted_artifact(ledger_cli, project):
    write(project / "m.bin", b"good")
    v = jrun(ledger_cli, "model", "register", "m", "--artifact", "m.bin")
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        path = ledger.blobs.path(v["tuple"]["artifact"]["sha256"])
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"evil")
    result = ledger_cli("model", "verify", "m@1", code=1)
    assert "failed verification" in result.stderr
    assert jrun(ledger_cli, "model", "verify", "m@1", code=1)["ok"] is False


def test_cards(ledger_cli, project):
    cli = ledger_cli
    write(project / "m.bin", b"w")
    write(project / "card.yaml", "intended_use: shipment ETA\nmethod: {type: gbdt}\n")
    cli("model", "register", "m", "--artifact", "m.bin", "--card", "card.yaml")
    assert "intended_use: shipment ETA" in cli("model", "card", "m@1").stdout
    assert "## Intended use" in cli("model", "card", "m@1", "--format", "markdown").stdout
    write(
        project / "card2.yaml", "intended_use: shipment ETA\nknown_limitations: [winter storms]\n"
    )
    assert "revision 2" in cli("model", "card", "m@1", "--set", "card2.yaml").stdout
    assert jrun(cli, "model", "card", "m@1")["card"]["known_limitations"] == ["winter storms"]
    assert "--format" in cli("model", "card", "m@1", "--format", "pdf", code=2).stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model", "register", "m", "--artifact", "nope.bin"], "no such file"),
        (["model", "register", "m", "--artifact", "m.bin", "--param", "lr"], "expected KEY=VALUE"),
        (
            ["model", "register", "m", "--artifact", "m.bin", "--params-file", "bad.yaml"],
            "not valid JSON or YAML",
        ),
        (
            ["model", "register", "m", "--artifact", "m.bin", "--params-file", "list.yaml"],
            "expected a mapping",
        ),
        (
            ["model", "register", "m", "--artifact", "m.bin", "--params-file", "missing.yaml"],
            "no such file",
        ),
        (["model", "register", "a/b", "--artifact", "m.bin"], "invalid model name"),
        (["model", "register", "..", "--artifact", "m.bin"], "invalid model name"),
        (
            ["model", "register", "m", "--artifact", "m.bin", "--data", "ds-" + "0" * 64],
            "unknown snapshot",
        ),
        (["model", "register", "m", "--artifact", "m.bin", "--parent", "m@3"], "no such"),
        (["model", "register", "m", "--artifact", "m.bin", "--card", "badcard.yaml"], "'method.r'"),
        (
            ["model", "register", "m", "--artifact", "m.bin", "--reason", "x"],
            "--reason goes with --irreproducible",
        ),
        (["model", "register", "m", "--artifact", "m.bin", "--irreproducible"], "needs --reason"),
        (["model", "register", "m", "--artifact", "m.bin", "--base-model", "llama"], "floating"),
        (["model", "show", "m@1"], "no such version"),
        (["model", "show", "zz"], "cannot read reference"),
        (["data", "snapshot", "nothing-here", "--name", "d"], "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(ledger_cli, project, args, message):
    write(project / "m.bin", b"w")
    write(project / "bad.yaml", "a: [unclosed\n")
    write(project / "list.yaml", "- 1\n- 2\n")
    write(project / "badcard.yaml", "method: {type: lora, r: -1}\n")
    before = jrun(ledger_cli, "audit", "log")
    result = ledger_cli(*args, code=2)
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert jrun(ledger_cli, "audit", "log") == before
    assert jrun(ledger_cli, "model", "list") == []


def test_irreproducible_registration(ledger_cli, project):
    write(project / "old.pkl", b"legacy")
    out = ledger_cli(
        "model",
        "register",
        "legacy",
        "--artifact",
        "old.pkl",
        "--irreproducible",
        "--reason",
        "table overwritten",
    ).stdout
    assert "irreproducible — table overwritten" in out
    assert (
        jrun(ledger_cli, "model", "show", "legacy@1")["reproducibility"]["status"]
        == "irreproducible"
    )


def test_init_is_idempotent_and_reports_where(cli, project):
    first = jrun(cli, "init")
    assert first["created"] and first["home"] == str(project / ".mledger")
    assert not jrun(cli, "init")["created"]
    assert (project / ".mledger" / ".gitignore").read_text().strip().endswith("*")


def test_ledger_found_from_a_subfolder(ledger_cli, project, monkeypatch):
    write(project / "m.bin", b"w")
    ledger_cli("model", "register", "m", "--artifact", "m.bin")
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert jrun(ledger_cli, "model", "show", "m@1")["label"] == "m@1"
