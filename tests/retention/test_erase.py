"""`mledger data erase` on SQLite and PostgreSQL (S15): the bytes leave the store, loose and
packed; the records stay, each with an erasure event that does not hold the value asked for;
the models trained on it are flagged with where they serve; readers say "erased"."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta

import pytest

from tests.conftest import jrun, write
from tests.people import approved

WHY = ["--reason", "deletion request #7", "--basis", "GDPR Art. 17"]


@pytest.fixture
def people(ledger_cli, project, ledger):
    """`users` holds user 42 in users.csv (not in other.csv); `clicks` holds 42 in its own file;
    `users2` holds the very same users.csv. churn@1 trained on `users` serves production;
    churn@2 is its child."""
    cli = ledger_cli
    d = project / "users"
    write(d / "users.csv", "user_id,email\n41,a@x\n42,b@x\n43,c@x\n")
    write(d / "other.csv", "user_id,email\n44,d@x\n")
    users = jrun(cli, "data", "snapshot", str(d), "--name", "users")["id"]
    c = write(project / "clicks" / "clicks.csv", "user_id,page\n42,/home\n42,/buy\n7,/home\n")
    clicks = jrun(cli, "data", "snapshot", str(c), "--name", "clicks")["id"]
    write(project / "users2" / "users.csv", (d / "users.csv").read_text())
    write(project / "users2" / "new.csv", "user_id,email\n45,e@x\n")
    users2 = jrun(cli, "data", "snapshot", str(project / "users2"), "--name", "users2")["id"]
    ids = {}
    for n, extra in ((1, ["--data", users]), (2, ["--parent", "churn@1"])):
        art = write(project / f"m{n}.bin", f"weights {n}" * 100)
        ids[n] = jrun(
            cli, "model", "register", "churn", "--artifact", str(art), "--code-ref", "r", *extra
        )["id"]
    cli("env", "create", "production")
    approved(ledger, ids[1], "production", project=project)
    return cli, ids, {"users": users, "clicks": clicks, "users2": users2}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_erasing_a_record_removes_the_files_holding_it_and_keeps_every_record(
    people, project, ledger
):
    cli, ids, snaps = people
    users_csv = _sha((project / "users" / "users.csv").read_text())
    other_csv = _sha((project / "users" / "other.csv").read_text())
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    plan = jrun(cli, "data", "erase", "--record", "user_id=42", *WHY, "--dry-run")
    assert {s["id"] for s in plan["snapshots"]} == set(snaps.values())
    assert ledger.blobs.has(users_csv)  # a dry run changes nothing

    done = jrun(
        cli, "data", "erase", "--record", "user_id=42", *WHY, "--requested-on", yesterday, "--yes"
    )
    assert {s["id"] for s in done["snapshots"]} == set(snaps.values())
    assert [m["label"] for m in done["models"]] == ["churn@1", "churn@2"]
    assert done["serving"] == [{"env": "production", "id": ids[1], "label": "churn@1"}]
    assert set(done["made_after_request"]) == set(snaps.values())  # made after yesterday
    assert not ledger.blobs.has(users_csv) and ledger.blobs.has(other_csv)
    assert done["freed_bytes"] > 0

    # the records stay, and say what happened
    shown = jrun(cli, "data", "show", snaps["users"])
    assert "erased on" in shown["erased"] and "GDPR Art. 17" in shown["erased"]
    said = cli("data", "checkout", snaps["users"], str(project / "out"), code=1).stderr
    assert "erased on" in said and "deletion request" in said
    retrain = jrun(cli, "model", "show", "churn@2")["retrain"]
    assert [r["snapshot"] for r in retrain] == [snaps["users"]]
    assert "was erased on" in cli("model", "show", "churn@1").stdout

    # the event names what went, never the value asked for
    erasures = jrun(cli, "audit", "log", "--kind", "data.erased")
    assert {e["subject"] for e in erasures} == set(snaps.values())
    payload = erasures[0]["payload"]
    assert payload["record"] == {"column": "user_id", "value_sha256": _sha("42")}
    assert payload["basis"] == "GDPR Art. 17" and payload["reason"] == "deletion request #7"
    assert erasures[0]["actor"] == os.environ["MLEDGER_USER"]  # who asked for it
    assert "42" not in json.dumps([e["payload"].get("why") for e in erasures])

    # nothing is left to find, the ledger verifies and the store is whole
    assert jrun(cli, "data", "affected", "--record", "user_id=42")["snapshots"] == []
    assert jrun(cli, "fsck")["ok"] and jrun(cli, "audit", "verify")["ok"]
    assert jrun(cli, "model", "verify", "churn@1")["ok"]  # the models' bytes are theirs


def test_erasing_a_snapshot_removes_its_packed_files_and_listing(people, project, ledger):
    cli, _, _ = people
    folder = project / "many"
    for i in range(150):  # small files: written into one pack
        write(folder / f"r{i:03}.csv", f"user_id\n{1000 + i}\n")
    many = jrun(cli, "data", "snapshot", str(folder), "--name", "many")["id"]
    packs = project / ".mledger" / "blobs" / "packs"
    assert len(list(packs.glob("*.pack"))) == 1
    tree = jrun(cli, "data", "show", many)["tree_sha256"]
    done = jrun(cli, "data", "erase", many, *WHY, "--yes")
    assert [s["id"] for s in done["snapshots"]] == [many] and done["models"] == []
    assert list(packs.glob("*.pack")) == [] and not ledger.blobs.has(tree)
    assert not any(ledger.blobs.has(_sha(f"user_id\n{1000 + i}\n")) for i in range(150))
    shown = jrun(cli, "data", "show", many)
    assert shown["files"] == [] and "erased on" in shown["erased"]
    assert jrun(cli, "fsck")["ok"] and jrun(cli, "audit", "verify")["ok"]
    # gc afterwards has nothing of it left to take, and says so without error
    write(project / "p.yaml", "keep_experiments_for: 0d\nkeep_snapshots_for: 0d\ngrace: 0d\n")
    cli("gc", "policy", str(project / "p.yaml"))
    assert many not in {c["id"] for c in jrun(cli, "gc")["collected"]}


def test_bytes_shared_with_another_snapshot_erase_it_too(people, project, ledger):
    cli, _, snaps = people
    done = jrun(cli, "data", "erase", snaps["users"], *WHY, "--yes")
    why = {s["id"]: s["why"] for s in done["snapshots"]}
    assert why[snaps["users"]] == "named by the request"
    assert why[snaps["users2"]] == f"shares erased bytes with {snaps['users']}"
    assert snaps["clicks"] not in why
    cli("data", "checkout", snaps["users2"], str(project / "o"), code=1)
    cli("data", "checkout", snaps["clicks"], str(project / "o2"))


def test_erase_refuses_what_it_cannot_do_plainly(people, project):
    cli, _, snaps = people
    said = cli("data", "erase", snaps["users"], *WHY, code=2).stderr  # no TTY, no --yes
    assert "pass --yes" in said
    assert "--reason is required" in cli("data", "erase", snaps["users"], "--yes", code=2).stderr
    both = cli("data", "erase", snaps["users"], "--record", "a=1", *WHY, "--yes", code=2).stderr
    assert "not both" in both
    neither = cli("data", "erase", *WHY, "--yes", code=2).stderr
    assert "name the snapshots to erase, or give --record" in neither
    bad_day = cli("data", "erase", "--record", "a=1", *WHY, "--requested-on", "soon", code=2)
    assert "expected a date" in bad_day.stderr
    none = cli("data", "erase", "--record", "user_id=999", *WHY, "--yes", code=2).stderr
    assert "no snapshot holds the record" in none
    assert jrun(cli, "data", "checkout", snaps["users"], str(project / "o"))["files"] >= 2


def test_erased_bytes_snapshotted_again_are_reported(people, project):
    """A pipeline that was not told snapshots the erased file again: the new snapshot is made
    (the bytes are its to hold) and says whose erasure it undoes."""
    cli, _, snaps = people
    jrun(cli, "data", "erase", "--record", "user_id=42", *WHY, "--yes")
    again = cli("data", "snapshot", str(project / "clicks"), "--name", "clicks")
    assert "warning: it holds 1 object(s) erased from" in again.stderr
    back = jrun(cli, "data", "snapshot", str(project / "users"), "--name", "users")
    assert back["erased_again"][0]["snapshot"] in {snaps["users"], snaps["users2"]}
    plan = jrun(cli, "data", "erase", "--record", "user_id=42", *WHY, "--dry-run")
    assert {s["id"] for s in plan["snapshots"]} >= {snaps["clicks"]}


def test_an_erasure_stopped_midway_is_finished_by_running_it_again(
    people, project, ledger, monkeypatch
):
    """Stopped after its events and loose removals, before the packs are rewritten: the listing
    is still there (it goes last), so the same command finds and removes what is left."""
    from modelledger.blobs import repack

    cli, _, _ = people
    for i in range(150):
        write(project / "many" / f"r{i:03}.csv", f"user_id\n{2000 + i}\n")
    many = jrun(cli, "data", "snapshot", str(project / "many"), "--name", "many")["id"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # where a kill -9 would stop it

    with monkeypatch.context() as patched:
        patched.setattr(repack, "drop_from_packs", killed)
        cli("data", "erase", many, *WHY, "--yes", code=130)  # as Ctrl-C ends it
    assert ledger.blobs.has(_sha("user_id\n2000\n"))  # still packed: not finished
    again = jrun(cli, "data", "erase", many, *WHY, "--yes")
    assert again["snapshots"][0]["erased_before"]
    assert not ledger.blobs.has(_sha("user_id\n2000\n"))
    assert not ledger.blobs.has(jrun(cli, "data", "show", many)["tree_sha256"])
    assert jrun(cli, "fsck")["ok"]


def test_the_ui_shows_an_erasure_and_the_flag_for_retraining(people, project, ledger):
    import warnings

    from modelledger.identity import tokens
    from modelledger.server.app import create_app
    from tests.people import REQUESTER, key_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    cli, ids, snaps = people
    jrun(cli, "data", "erase", snaps["users"], *WHY, "--yes")
    secret = tokens.create(ledger, key_of(project, REQUESTER), REQUESTER, ["read"]).secret
    with TestClient(create_app(ledger)) as client:
        client.cookies.set("mledger_ui", secret, path="/ui")
        version = client.get(f"/ui/versions/{ids[1]}").text
        snapshot = client.get(f"/ui/snapshots/{snaps['users']}").text
    assert "Flagged for retraining: its data" in version and "was erased on" in version
    assert "Erasure: erased on" in snapshot and "GDPR Art. 17" in snapshot
