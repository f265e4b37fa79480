"""The CLI against a real `mledger server` (MLEDGER_URL, MLEDGER_TOKEN), on SQLite and PostgreSQL:
register from a clean checkout, show, promote (a request signed by the requester), approve (signed
by the approver), what is live, and the refusals; the server's ledger verifies afterwards."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modelledger.ledger.audit import verify as verify_chain
from modelledger.models.status import show as local_show
from tests.conftest import jrun, write


def same(answer, local):
    """The server's JSON is the local command's (a value through JSON and back)."""
    assert answer == json.loads(json.dumps(local))


def test_register_promote_approve_through_the_server(remote, cli, ledger):
    as_, client, _ = remote
    as_("alice")
    assert "alice (person): approver, writer" in cli("identity", "whoami").stdout
    as_("wes")
    made = jrun(cli, "model", "register", "churn", "--artifact", str(write(client / "m.bin", "w1")))
    assert made["created"] and made["label"] == "churn@1" and made["registered_by"] == "wes"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=client, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert made["tuple"]["code"]["commit"] == head and not made["tuple"]["code"]["dirty"]
    assert made["tuple"]["lock_sha256"]  # this interpreter's packages, captured here
    again = jrun(cli, "model", "register", "churn", "--artifact", str(client / "m.bin"))
    assert not again["created"] and again["id"] == made["id"]  # same tuple, same id
    shown = jrun(cli, "model", "show", "churn@1")
    assert shown == json.loads(json.dumps(local_show(ledger, "churn@1")))

    asked = jrun(cli, "promote", "churn@1", "--to", "production", "--reason", "first")
    assert not asked["promoted"] and asked["request"]["status"] == "pending"
    rid = asked["request"]["id"]
    listed = cli("request", "list").stdout
    assert rid[:15] in listed and "churn@1" in listed
    as_("alice")
    done = cli("approve", rid[:12]).stdout
    assert f"approved {rid[:15]} as alice" in done and "promoted churn@1 to production" in done
    live = jrun(cli, "env", "show", "production")
    assert live["label"] == "churn@1" and live["promoted_by"] == "wes"
    assert live["approved_by"] == ["alice"]
    assert jrun(cli, "request", "show", rid)["status"] == "promoted"
    assert verify_chain(ledger).ok


def test_refusals_through_the_server(remote, cli, ledger):
    as_, client, secrets = remote
    as_("wes")
    jrun(cli, "model", "register", "churn", "--artifact", str(write(client / "m.bin", "w1")))
    write(client / "train.py", "print('changed')\n")
    dirty = cli("model", "register", "churn", "--artifact", str(client / "m.bin"), code=2)
    assert "uncommitted changes (train.py)" in dirty.stderr and "--allow-dirty" in dirty.stderr
    as_("rita")  # a reader
    refused = cli("promote", "churn@1", "--to", "production", code=3)
    assert "error:" in refused.stderr
    as_("wes")
    asked = jrun(cli, "promote", "churn@1", "--to", "production")
    rid = asked["request"]["id"]
    self_approval = cli("approve", rid, code=3)  # wes asked: he may not approve
    assert "wes" in self_approval.stderr
    as_("bob")
    rejected = cli("reject", rid, "--reason", "not yet")
    assert f"rejected {rid[:15]} as bob" in rejected.stdout
    missing = cli("model", "show", "churn@9", code=2)
    assert "churn@9" in missing.stderr
    local_only = cli("fsck", code=2)
    assert "works on a local ledger only" in local_only.stderr
    with pytest.MonkeyPatch.context() as m:
        m.setenv("MLEDGER_TOKEN", secrets["wes"][:-4] + "xxxx")
        forged = cli("model", "show", "churn@1", code=3)
        assert "MLEDGER_TOKEN" in forged.stderr
        m.delenv("MLEDGER_TOKEN")
        assert "MLEDGER_TOKEN is not" in cli("model", "show", "churn@1", code=2).stderr
    with pytest.MonkeyPatch.context() as m:
        m.setenv("MLEDGER_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
        gone = cli("model", "show", "churn@1", code=2)
        assert "does not answer" in gone.stderr
    assert verify_chain(ledger).ok


def test_a_dirty_tree_and_a_folder_artifact_go_through_the_server(remote, cli, ledger):
    """As locally: --allow-dirty records the diff (sent as a blob) and marks the version dirty;
    a folder's files and listing are sent and the version names the tree."""
    as_, client, _ = remote
    as_("wes")
    write(client / "train.py", "print('changed')\n")
    write(client / "m.bin", "w1")
    v = jrun(cli, "model", "register", "churn", "--artifact", "m.bin", "--allow-dirty")
    code = v["tuple"]["code"]
    assert code["dirty"] and v["dirty"] and v["reproducibility"]["status"] == "not reproducible"
    assert b"print('changed')" in ledger.blobs.get(code["diff_sha256"])
    assert v["manifest"]["untracked_files"] == []

    folder = client / "ft.bin"  # (ignored: not code)
    write(folder / "config.json", "{}")
    write(folder / "weights" / "part-0.bin", b"\0" * 3000)
    t = jrun(cli, "model", "register", "churn", "--artifact", str(folder), "--allow-dirty")
    art = t["tuple"]["artifact"]
    assert (
        art["kind"] == "tree"
        and art["size"] == 3002
        and t["manifest"]["artifact_source"] == "upload:ft.bin"
    )
    assert [e.path for e in ledger.blobs.get_tree(art["sha256"]).entries] == [
        "config.json",
        "weights/part-0.bin",
    ]
    out = client / "back"
    cli("model", "checkout", t["label"], str(out))
    assert (out / "weights" / "part-0.bin").read_bytes() == b"\0" * 3000
    nothing = cli("model", "register", "churn", "--artifact", str(Path("nope.bin")), code=2)
    assert "nope.bin" in nothing.stderr
    assert verify_chain(ledger).ok


def test_an_environment_without_approvals_moves_at_once_and_expect_live_guards_it(
    remote, cli, ledger, project
):
    from modelledger.releases import environments as envs
    from tests.people import key_of

    as_, client, _ = remote
    policy = write(project / "staging.yaml", "approvers: 0\nfour_eyes: false\n")
    envs.set_policy(ledger, "staging", policy, key_of(project, "carol"))
    as_("wes")
    for n in (1, 2):
        cli("model", "register", "churn", "--artifact", str(write(client / f"{n}.bin", f"w{n}")))
    moved = cli("promote", "churn@1", "--to", "staging").stdout
    assert "promoted churn@1 to staging" in moved and "previous: nothing" in moved
    stale = cli("promote", "churn@2", "--to", "staging", "--expect-live", "none", code=2)
    assert "staging runs" in stale.stderr and "nothing was changed" in stale.stderr
    live = jrun(cli, "env", "show", "staging")["id"]
    done = jrun(cli, "promote", "churn@2", "--to", "staging", "--expect-live", "churn@1")
    assert done["promoted"] and done["label"] == "churn@2" and done["previous"] == live


def test_the_python_api_goes_through_the_server_too(remote, ledger, project):
    import modelledger as ml
    from modelledger.core.errors import InvalidInput, NotAllowed

    as_, client, _ = remote
    as_("wes")
    v = ml.register_model("churn", write(client / "m.bin", "w1"), params={"lr": 0.1})
    assert (v.label, v.registered_by, v.tuple.params) == ("churn@1", "wes", {"lr": 0.1})
    assert ml.get_version("churn@1") == v
    asked = ml.promote("churn@1", "production", reason="first")
    assert not asked["promoted"] and asked["request"]["requester"] == "wes"
    with pytest.raises(NotAllowed, match="wes"):
        ml.approve(asked["request"]["id"])  # the requester's own
    as_("bob")
    done = ml.approve(asked["request"]["id"][:12])
    assert done["promoted"] and done["promotion"]["approvers"] == ["bob"]
    assert ml.live("production") == v.id
    back = ml.checkout_model("churn@1", client / "back")
    assert back == client / "back" / "m.bin" and back.read_text() == "w1"
    with pytest.raises(NotAllowed, match="bob holds no writer role"):
        ml.snapshot(write(client / "d" / "a.csv", "x\n1\n"), "train")
    as_("wes")
    snap = ml.snapshot(client / "d" / "a.csv", "train")
    assert snap.created_by == "wes" and ledger.blobs.has(snap.tree_sha256)
    assert (ml.checkout(snap.id, client / "d2") / "a.csv").read_text() == "x\n1\n"
    with pytest.raises(InvalidInput, match="local ledger only"):
        ml.list_versions()  # not through the server yet: refused, not answered from elsewhere
