"""Snapshots and artifacts through a real `mledger server` (MLEDGER_URL), on SQLite and
PostgreSQL: files are hashed on the client and only what the server lacks is sent; what comes
back is checked against the hashes the record names, so a server store that changed a byte is
caught by the client; and the blob API refuses bytes that are not what they are sent as."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess

import pytest

from modelledger.data.snapshot import show as local_show
from modelledger.ledger.audit import verify as verify_chain
from modelledger.remote.blobs import RemoteBlobs
from tests.conftest import jrun, write
from tests.server.conftest import GIT


def tree_of(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def damage(ledger, sha):
    """Rewrite a stored blob's bytes in place, as someone with the server's disk could."""
    path = ledger.blobs.path(sha)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"Z")


def test_snapshot_show_list_and_checkout_through_the_server(remote, cli, ledger):
    as_, client, _ = remote
    as_("wes")
    data = client / "data"
    write(data / "a.csv", "x\n1\n")
    write(data / "sub" / "b.csv", "y\n2\n" * 1000)
    write(data / "run.sh", "#!/bin/sh\n").chmod(0o755)
    made = jrun(cli, "data", "snapshot", str(data), "--name", "train")
    assert made["created"] and made["created_by"] == "wes" and made["file_count"] == 3
    assert jrun(cli, "data", "show", made["id"][:12]) == json.loads(
        json.dumps(local_show(ledger, made["id"]))
    )
    again = cli("data", "snapshot", str(data), "--name", "train").stdout
    assert "already snapshotted (same bytes)" in again and made["id"] in again
    assert [s["id"] for s in jrun(cli, "data", "list", "--name", "train")] == [made["id"]]

    out = client / "out"
    said = cli("data", "checkout", made["id"][:12], str(out)).stdout
    assert "3 files" in said and "all hashes verified" in said
    assert tree_of(out) == tree_of(data)
    assert (out / "run.sh").stat().st_mode & stat.S_IXUSR

    write(client / "clean.py", "print('dedupe')\n")
    cleaned = client / "clean"
    write(cleaned / "a.csv", "x\n1\n")
    derived = jrun(
        cli, "data", "snapshot", str(cleaned), "--name", "train-clean", "--from", made["id"],
        "--step", "dedupe", "--code", str(client / "clean.py"), "--param", "k=3",
    )  # fmt: skip
    tf = derived["transform"]
    assert tf["inputs"] == [made["id"]] and tf["params"] == {"k": 3}
    script = hashlib.sha256(b"print('dedupe')\n").hexdigest()
    assert tf["code"]["sha256"] == script and tf["code"]["file"] == "clean.py"
    assert ledger.blobs.has(script)  # the script's bytes went to the server too
    assert local_show(ledger, derived["id"])["derived_by"][0]["id"] == tf["id"]

    write(client / ".gitignore", "*.bin\ndata/\nclean/\nout/\nclean.py\n")
    subprocess.run([*GIT, "commit", "-qam", "data is not code"], cwd=client, check=True)
    write(client / "m.bin", b"weights")
    v = jrun(
        cli, "model", "register", "churn", "--artifact", str(client / "m.bin"),
        "--data", derived["id"],
    )  # fmt: skip
    assert v["tuple"]["data"] == [{"id": derived["id"], "role": "train"}]
    said = cli("model", "checkout", "churn@1", str(client / "model-out")).stdout
    assert "checked out churn@1" in said and "all hashes verified" in said
    assert (client / "model-out" / "m.bin").read_bytes() == b"weights"
    assert verify_chain(ledger).ok


def test_only_what_the_server_lacks_is_sent(remote, cli, monkeypatch):
    as_, client, _ = remote
    as_("wes")
    sent: list[str] = []
    put = RemoteBlobs._put

    def spy(self, sha, body, size):
        sent.append(sha)
        put(self, sha, body, size)

    monkeypatch.setattr(RemoteBlobs, "_put", spy)
    data = client / "data"
    for i in range(5):
        write(data / f"{i}.csv", f"row {i}\n")
    jrun(cli, "data", "snapshot", str(data), "--name", "train")
    assert len(sent) == 6  # five files and their listing
    sent.clear()
    jrun(cli, "data", "snapshot", str(data), "--name", "train")
    assert sent == []  # unchanged: nothing travels
    write(data / "3.csv", "changed\n")
    jrun(cli, "data", "snapshot", str(data), "--name", "train")
    assert (
        sorted(sent) == sorted([hashlib.sha256(b"changed\n").hexdigest(), *sent[-1:]])
        and len(sent) == 2
    )  # the changed file and the new listing


def test_what_the_server_sends_back_is_checked_here(remote, cli, ledger):
    as_, client, _ = remote
    as_("wes")
    data = client / "data"
    write(data / "a.csv", "x\n1\n")
    write(data / "b.csv", "y\n2\n")
    made = jrun(cli, "data", "snapshot", str(data), "--name", "train")
    write(client / ".gitignore", "*.bin\ndata/\n")
    subprocess.run([*GIT, "commit", "-qam", "data is not code"], cwd=client, check=True)
    write(client / "m.bin", b"weights")
    v = jrun(cli, "model", "register", "churn", "--artifact", str(client / "m.bin"))
    damage(ledger, hashlib.sha256(b"x\n1\n").hexdigest())
    damage(ledger, v["tuple"]["artifact"]["sha256"])

    refused = cli("data", "checkout", made["id"], str(client / "out"), code=1)
    assert "corrupt" in refused.stderr and "a.csv" in refused.stderr
    assert not (client / "out" / "a.csv").exists()  # nothing written for the damaged file
    refused = cli("model", "checkout", "churn@1", str(client / "mout"), code=1)
    assert "corrupt" in refused.stderr and not (client / "mout" / "m.bin").exists()


def test_the_blob_api_keeps_only_bytes_that_are_what_they_are_sent_as(team):
    raw = {"Content-Type": "application/octet-stream"}
    good = b"some bytes"
    sha = hashlib.sha256(good).hexdigest()
    wrong = team.client.put(
        f"/api/v1/blobs/{sha}", content=b"other bytes", headers={**team.h("wes"), **raw}
    )
    assert wrong.status_code == 422 and "nothing was stored" in wrong.json()["error"]
    assert not team.ledger.blobs.has(hashlib.sha256(b"other bytes").hexdigest())
    reader = team.client.put(
        f"/api/v1/blobs/{sha}", content=good, headers={**team.h("rita"), **raw}
    )
    assert reader.status_code == 403
    assert team.get(f"/blobs/{sha}").status_code == 404
    asked = team.post("/blobs/missing", "wes", json={"sha256": [sha]})
    assert asked.json() == {"missing": [sha]}
    assert team.post("/blobs/missing", "rita", json={"sha256": [sha]}).status_code == 403
    done = team.client.put(f"/api/v1/blobs/{sha}", content=good, headers={**team.h("wes"), **raw})
    assert done.status_code == 200 and done.json() == {"sha256": sha, "size": len(good)}
    assert team.get(f"/blobs/{sha}").content == good
    assert team.post("/blobs/missing", "wes", json={"sha256": [sha]}).json() == {"missing": []}
    for bad in ("ABC", "g" * 64, sha + "0"):
        assert team.get(f"/blobs/{bad}").status_code == 422
    too_many = team.post("/blobs/missing", "wes", json={"sha256": [sha] * 10_001})
    assert too_many.status_code in (413, 422)


@pytest.mark.parametrize("what", ["tree", "file"])
def test_a_snapshot_of_bytes_the_server_lacks_is_refused(team, what):
    from modelledger.blobs.tree import Tree, TreeEntry

    raw = {**team.h("wes"), "Content-Type": "application/octet-stream"}
    file_sha = hashlib.sha256(b"x").hexdigest()
    tree = Tree.of([TreeEntry("a.csv", file_sha, 1, 0o644)])
    if what == "file":  # the listing is there, one of its files is not
        team.client.put(f"/api/v1/blobs/{tree.sha256}", content=tree.canonical(), headers=raw)
    answer = team.post("/snapshots", "wes", json={"name": "train", "tree": tree.sha256})
    if what == "tree":
        assert answer.status_code == 404
    else:
        assert answer.status_code == 422 and "not stored" in answer.json()["error"]
    assert team.get("/snapshots").json() == []
    assert (
        team.post("/snapshots", "rita", json={"name": "t", "tree": tree.sha256}).status_code == 403
    )


def test_a_registration_naming_bytes_the_server_lacks_is_refused(team):
    from modelledger.blobs.tree import Tree, TreeEntry

    raw = {**team.h("wes"), "Content-Type": "application/octet-stream"}
    tree = Tree.of([TreeEntry("w.bin", hashlib.sha256(b"w").hexdigest(), 1, 0o644)])
    team.client.put(f"/api/v1/blobs/{tree.sha256}", content=tree.canonical(), headers=raw)
    meta = {"name": "churn", "code_ref": "git@x:c#1", "lock": "numpy==2\n"}

    def send(**more):
        body = json.dumps({**meta, **more})
        return team.post("/versions", "wes", files={"metadata": (None, body)})

    lacking = send(artifact_tree=tree.sha256, filename="ft")
    assert lacking.status_code == 422 and "not stored" in lacking.json()["error"]
    assert send().status_code == 400  # neither an artifact nor a tree
    unknown = send(artifact_tree="0" * 64)
    assert unknown.status_code == 404
    git = {"kind": "git", "repo": "r", "commit": "a" * 40}
    no_diff = team.register("wes", code={**git, "dirty": True}, code_ref=None)
    assert no_diff.status_code == 422 and "diff_sha256" in no_diff.json()["error"]
    unsent = team.register(
        "wes", code={**git, "dirty": True, "diff_sha256": "1" * 64}, code_ref=None
    )
    assert unsent.status_code == 422 and "send it first" in unsent.json()["error"]
    team.client.put(f"/api/v1/blobs/{hashlib.sha256(b'w').hexdigest()}", content=b"w", headers=raw)
    done = send(artifact_tree=tree.sha256, filename="ft")
    assert done.status_code == 201 and done.json()["tuple"]["artifact"]["kind"] == "tree"
