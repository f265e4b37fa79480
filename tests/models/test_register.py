"""Registering and reading versions through the services, on both backends."""

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from modelledger.core.errors import DirtyWorkingTree, InvalidInput, NotFound
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.models import reads as models
from modelledger.models.register import RegisterRequest, register
from tests.conftest import write

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


def git(cwd, *args):
    return (
        subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
        )
        .stdout.decode()
        .strip()
    )


@pytest.fixture
def repo(project):
    """A git work tree holding the training code; data and models are ignored, as a team's
    .gitignore would have them (untracked files that are not ignored count as code)."""
    write(project / "train.py", "print('train')\n")
    write(project / ".gitignore", "data/\nft/\n*.bin\n")
    git(project, "init", "-q")
    git(project, "add", "train.py", ".gitignore")
    git(project, "commit", "-qm", "init")
    return project


def counts(ledger):
    with ledger.db.read() as conn:
        v = conn.execute(text("SELECT count(*) FROM model_versions")).scalar()
        e = conn.execute(text("SELECT count(*) FROM events")).scalar()
    return v, e, len(list(ledger.blobs.iter_shas()))


def req(project, **kw):
    kw.setdefault("name", "delay")
    content = kw.pop("content", b"weights")
    if "artifact" not in kw:
        kw["artifact"] = write(project / "model.bin", content)
    return RegisterRequest(**kw)


def test_register_in_git_repo_captures_the_tuple(ledger, repo):
    snap = snapshot(
        ledger, SnapshotRequest([write(repo / "data" / "train.csv", "a\n1\n")], "shipments")
    ).snapshot
    result = register(ledger, req(repo, data=[f"{snap.id}:train"], params={"lr": 0.1}, seed=7))
    v = result.version
    assert result.created and v.label == "delay@1" and v.id.startswith("mv-")
    assert v.tuple.code.kind == "git" and v.tuple.code.commit == git(repo, "rev-parse", "HEAD")
    assert not v.dirty and v.reproducibility.status == "reproducible"
    assert v.tuple.lock_sha256 and ledger.blobs.has(v.tuple.lock_sha256)
    assert b"sqlalchemy==" in ledger.blobs.get(v.tuple.lock_sha256).lower()
    assert v.manifest["hardware"]["cores"] == os.cpu_count()
    assert v.registered_by == "alice"
    shown = models.show(ledger, "delay@1")
    assert shown["tuple"]["data"] == [{"id": snap.id, "role": "train"}]
    assert shown["tuple"]["params"] == {"lr": 0.1} and shown["tuple"]["seed"] == 7


def test_the_manifest_names_the_file_read_with_links_followed(ledger, repo):
    """Serving and rehearsal name the materialised artifact after it (a loader may go by the
    extension), so a ``latest`` link records the file it pointed at when registered."""
    target = write(repo / "runs" / "42" / "model.joblib", b"weights")
    (repo / "links").mkdir()
    (repo / "links" / "latest").symlink_to(target)
    folder = repo / "folder"
    write(folder / "w.bin", b"w")
    by_link = register(ledger, req(repo, artifact=repo / "links" / "latest", code_ref="r@1"))
    assert by_link.version.manifest["artifact_source"] == str(target.resolve())
    by_folder = register(ledger, req(repo, artifact=folder, code_ref="r@1"))
    assert by_folder.version.manifest["artifact_source"] == str(folder.resolve())


def test_same_tuple_returns_the_existing_version(ledger, repo):
    first = register(ledger, req(repo, params={"a": 1, "b": 2.0})).version
    before = counts(ledger)
    again = register(ledger, req(repo, params={"b": 2, "a": 1}))
    assert not again.created and again.version.id == first.id and again.version.number == 1
    assert counts(ledger) == before
    third = register(ledger, req(repo, params={"a": 1, "b": 3})).version
    assert third.number == 2


def test_versions_number_per_model(ledger, repo):
    register(ledger, req(repo, name="a"))
    register(ledger, req(repo, name="b"))
    v = register(ledger, req(repo, name="a", seed=1)).version
    assert v.label == "a@2"
    assert [x.label for x in models.list_versions(ledger, "a")] == ["a@2", "a@1"]


def test_dirty_tree_is_refused_then_recorded_with_allow_dirty(ledger, repo):
    write(repo / "train.py", "print('changed')\n")
    before = counts(ledger)
    with pytest.raises(DirtyWorkingTree, match="--allow-dirty"):
        register(ledger, req(repo))
    assert counts(ledger) == before
    v = register(ledger, req(repo, allow_dirty=True)).version
    assert v.dirty and v.reproducibility.status == "not reproducible"
    diff = ledger.blobs.get(v.tuple.code.diff_sha256)
    assert b"print('changed')" in diff


def test_an_untracked_script_makes_the_tree_dirty(ledger, repo):
    write(repo / "train_v2.py", "print('never added')\n")
    before = counts(ledger)
    with pytest.raises(DirtyWorkingTree, match=r"train_v2\.py \(untracked\).*\.gitignore"):
        register(ledger, req(repo))
    assert counts(ledger) == before


def test_a_refusal_reads_no_untracked_file(ledger, repo, monkeypatch):
    import modelledger.capture.git as capture

    def must_not_hash(path):
        raise AssertionError(f"hashed {path} for a refusal")

    monkeypatch.setattr(capture, "_hash_file", must_not_hash)
    write(repo / "big_untracked.py", "x = 1\n" * 1000)
    with pytest.raises(DirtyWorkingTree, match="big_untracked"):
        register(ledger, req(repo))


def test_untracked_code_is_recorded_with_allow_dirty(ledger, repo):
    script = write(repo / "src" / "features.py", "def f(x):\n    return 2 * x\n")
    staged_before = git(repo, "diff", "--cached", "--name-only")
    v = register(ledger, req(repo, allow_dirty=True)).version
    assert v.dirty and v.reproducibility.status == "not reproducible"
    diff = ledger.blobs.get(v.tuple.code.diff_sha256)
    assert b"src/features.py" in diff and b"return 2 * x" in diff
    assert b"new file mode" in diff
    import hashlib

    assert v.manifest["untracked_files"] == [
        {
            "path": "src/features.py",
            "size": script.stat().st_size,
            "sha256": hashlib.sha256(script.read_bytes()).hexdigest(),
        }
    ]
    # the user's staging area is untouched: the diff was made on a copy of the index
    assert git(repo, "diff", "--cached", "--name-only") == staged_before
    assert "?? src/features.py" in git(repo, "status", "--porcelain", "--untracked-files=all")


def test_untracked_files_with_awkward_names_are_all_in_the_diff(ledger, repo):
    names = ["with space.py", "ünïcode.py", ":(glob)*.py", "-dash.py", "deep/er/x.py"]
    names += [f"many/f{i}.py" for i in range(400)]
    for name in names:
        write(repo / name, f"# {name}\n")
    v = register(ledger, req(repo, allow_dirty=True)).version
    diff = ledger.blobs.get(v.tuple.code.diff_sha256).decode("utf-8", "replace")
    recorded = {f["path"] for f in v.manifest["untracked_files"]}
    assert recorded == set(names)
    for name in names[:5]:
        assert f"# {name}" in diff, name
    assert diff.count("new file mode") == len(names)


def test_what_is_not_code_leaves_the_tree_clean(ledger, repo):
    # the artifact being registered, its lock, ignored files and the ledger itself
    write(repo / ".gitignore", "*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore logs")
    write(repo / "train.log", "epoch 1")
    lock = write(repo / "requirements.txt", "numpy==2.0\n")
    artifact = write(repo / "out" / "model.pt", b"weights")
    v = register(ledger, req(repo, artifact=artifact, lock=lock)).version
    assert not v.dirty and v.reproducibility.status == "reproducible"
    assert v.manifest["untracked_files"] == []


def test_untracked_files_too_big_for_the_diff_make_the_version_irreproducible(
    ledger, repo, monkeypatch
):
    import modelledger.capture.git as capture

    monkeypatch.setattr(capture, "UNTRACKED_DIFF_LIMIT", 100)
    write(repo / "a_small.py", "x = 1\n")
    write(repo / "b_big.py", "y = 2\n" * 100)
    v = register(ledger, req(repo, allow_dirty=True)).version
    diff = ledger.blobs.get(v.tuple.code.diff_sha256)
    assert b"a_small.py" in diff and b"b_big.py" not in diff
    assert v.manifest["untracked_not_stored"] == ["b_big.py"]
    assert [f["path"] for f in v.manifest["untracked_files"]] == ["a_small.py", "b_big.py"]
    status = v.reproducibility
    assert status.status == "irreproducible"
    assert "b_big.py" in status.reasons[0] and "not stored" in status.reasons[0]


def test_remote_credentials_are_never_recorded(ledger, repo):
    git(repo, "remote", "add", "origin", "https://bob:s3cret@git.example.com/team/train.git")
    v = register(ledger, req(repo)).version
    assert v.tuple.code.repo == "https://git.example.com/team/train.git"


def test_non_git_directory_is_allowed_but_not_reproducible(ledger, project):
    v = register(ledger, req(project)).version
    assert v.tuple.code is None
    assert v.reproducibility.status == "not reproducible"
    with_ref = register(ledger, req(project, code_ref="git+https://x/y@abc", seed=1)).version
    assert with_ref.reproducibility.status == "reproducible"


def test_irreproducible_history_is_marked_and_frozen(ledger, repo):
    v = register(
        ledger, req(repo, name="legacy", irreproducible="training data overwritten")
    ).version
    assert v.reproducibility.status == "irreproducible"
    assert v.irreproducible_reason == "training data overwritten"
    assert v.tuple.code is None and v.tuple.lock_sha256 is None  # no reconstructed lineage
    assert models.show(ledger, v.id)["reproducibility"]["status"] == "irreproducible"


def test_decomposed_finetune(ledger, repo):
    ft = snapshot(
        ledger, SnapshotRequest([write(repo / "ft" / "pairs.jsonl", '{"q":1}\n')], "ft-pairs")
    ).snapshot
    adapter = repo / "adapter"
    write(adapter / "adapter_config.json", '{"r": 16}')
    write(adapter / "adapter_model.bin", b"\x01" * 100)
    base = "llama-3-8b@rev-5f0b#" + "e" * 64
    card = {
        "base_model": {"name": "llama-3-8b", "version": "rev-5f0b", "hash": "e" * 64},
        "method": {"type": "lora", "r": 16, "alpha": 32},
    }
    v = register(
        ledger,
        req(
            repo,
            name="support-bot",
            artifact=adapter,
            base_model=base,
            data=[f"{ft.id}:finetune"],
            card=card,
        ),
    ).version
    assert v.tuple.artifact.kind == "tree" and v.tuple.base_model == base
    child = register(
        ledger,
        req(repo, name="support-bot", artifact=adapter, base_model=v.label, parent=v.id, seed=3),
    ).version
    lineage = models.lineage(ledger, child.label)
    relations = {(a["relation"], a["id"]) for a in lineage["ancestors"]}
    assert (
        ("parent", v.id) in relations
        and ("base", v.id) in relations
        and ("base", base) in relations
    )
    assert models.lineage(ledger, v.id)["children"] == [{"id": child.id, "label": child.label}]
    assert models.lineage(ledger, v.id)["data"][0]["role"] == "finetune"


def test_card_revisions_are_appended_and_logged(ledger, repo):
    v = register(ledger, req(repo, card={"intended_use": "ETA"})).version
    _, revision = models.amend_card(
        ledger, v.label, {"intended_use": "ETA", "known_limitations": ["snow"]}
    )
    assert revision == 2
    _, rev, card = models.card(ledger, v.id)
    assert rev == 2 and card["known_limitations"] == ["snow"]
    from modelledger.ledger.audit import EventQuery, log

    assert [
        e.payload["revision"]
        for e in log(ledger, EventQuery(subject=v.id, kind="model.card")).events
    ] == [1, 2]


def test_verify_detects_a_corrupted_artifact(ledger, repo):
    v = register(ledger, req(repo)).version
    assert models.verify(ledger, v.label).ok
    path = ledger.blobs.path(v.tuple.artifact.sha256)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"evil")
    report = models.verify(ledger, v.label)
    assert not report.ok and "does not match" in report.bad[0]


def test_references(ledger, repo):
    v = register(ledger, req(repo)).version
    assert models.get_version(ledger, v.id[:8]).id == v.id
    assert models.get_version(ledger, v.id[3:12]).id == v.id
    with pytest.raises(NotFound, match="latest is delay@1"):
        models.get_version(ledger, "delay@5")
    with pytest.raises(InvalidInput, match="not a model version"):
        models.get_version(ledger, "ds-abcd")


def test_ambiguous_prefix_lists_candidates(ledger, repo):
    from modelledger.core.errors import AmbiguousReference

    real = register(ledger, req(repo)).version
    # ids are hashes, so two sharing a prefix are planted: inserts are allowed, edits are not
    with ledger.db.write() as conn:
        row = conn.execute(text("SELECT * FROM model_versions")).mappings().one()
        for n, fake in enumerate(("mv-abcd" + "1" * 60, "mv-abcd" + "2" * 60), start=2):
            conn.execute(
                text(
                    "INSERT INTO model_versions (id, name, number, tuple_json, artifact_sha256, "
                    "created_at, registered_by, manifest_json) VALUES "
                    "(:id, :name, :number, :tuple_json, :artifact_sha256, :created_at, :registered_by, :manifest_json)"
                ),
                {
                    **{
                        k: row[k]
                        for k in (
                            "name",
                            "tuple_json",
                            "artifact_sha256",
                            "created_at",
                            "registered_by",
                            "manifest_json",
                        )
                    },
                    "id": fake,
                    "number": n,
                },
            )
    with pytest.raises(AmbiguousReference) as exc:
        models.get_version(ledger, "mv-abcd")
    assert "mv-abcd1111" in str(exc.value) and "mv-abcd2222" in str(exc.value)
    assert models.get_version(ledger, "mv-abcd1").number == 2
    assert models.get_version(ledger, real.id).number == 1


BAD = [
    (dict(name="a/b"), InvalidInput, "invalid model name"),
    (dict(name=".."), InvalidInput, "invalid model name"),
    (dict(name="bad\x07name"), InvalidInput, "invalid model name"),
    (dict(artifact="missing.bin"), InvalidInput, "no such file"),
    (dict(data=["ds-" + "0" * 64]), NotFound, "unknown snapshot"),
    (dict(parent="mv-" + "0" * 64), NotFound, "no model version"),
    (dict(parent="delay@9"), NotFound, "no such"),
    (dict(base_model="llama-latest#notahash"), InvalidInput, "pin it"),
    (dict(base_model="llama@latest"), InvalidInput, "floating name"),
    (dict(base_model="delay@9"), NotFound, "no such version"),
    (dict(card={"method": {"type": "lora", "r": "sixteen"}}), InvalidInput, "'method.r'"),
    (dict(loader="eval:os.system"), InvalidInput, "--loader"),
    (dict(seed="7"), InvalidInput, "--seed"),
    (dict(params={"x": float("nan")}), InvalidInput, "NaN"),
    (dict(irreproducible="  "), InvalidInput, "--reason"),
]


@pytest.mark.parametrize(("kw", "exc", "match"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_bad_input_writes_nothing(ledger, repo, kw, exc, match):
    if isinstance(kw.get("artifact"), str):
        kw = {**kw, "artifact": repo / kw["artifact"]}
    before = counts(ledger)
    with pytest.raises((exc, InvalidInput), match=match):
        register(ledger, req(repo, **kw))
    assert counts(ledger) == before


def test_a_refused_registration_leaves_no_staged_copy_behind(ledger, repo):
    """The artifact is copied and hashed before the references resolve; when one fails to, the
    copy is dropped (not published, no temp file or descriptor left in the store)."""
    from tests.blobs.test_store import settled

    art = write(repo / "big.bin", os.urandom(8 << 20))
    with pytest.raises(NotFound, match="unknown snapshot"):
        register(ledger, req(repo, artifact=art, data=["ds-" + "0" * 64]))
    ledger.blobs.close()  # the file made ahead for the next write
    assert settled(Path(ledger.blobs.root)), "a staged copy was left in the store"
    assert list(ledger.blobs.iter_shas()) == []


def test_artifact_directory_with_escaping_symlink_writes_nothing(ledger, repo):
    art = repo / "art"
    write(art / "w.bin", b"w")
    (art / "leak").symlink_to("/etc/hostname")
    before = counts(ledger)
    with pytest.raises(InvalidInput, match="symlink points outside"):
        register(ledger, req(repo, artifact=art))
    assert counts(ledger) == before


def test_artifact_directory_with_a_bad_reference_leaves_no_blobs(ledger, repo):
    art = repo / "adapter"
    write(art / "adapter.bin", b"lora")
    write(art / "config.json", "{}")
    before = counts(ledger)
    with pytest.raises(NotFound):
        register(ledger, req(repo, artifact=art, parent="delay@9"))
    assert counts(ledger) == before  # the folder's files were staged, never published
    version = register(ledger, req(repo, artifact=art)).version
    assert version.tuple.artifact.kind == "tree"
    assert models.verify(ledger, version.id).ok


def test_unreadable_artifact_writes_nothing(ledger, repo, deny_read):
    artifact = write(repo / "locked.bin", b"secret weights")
    deny_read(artifact)
    before = counts(ledger)
    with pytest.raises(InvalidInput, match="permission denied"):
        register(ledger, req(repo, artifact=artifact))
    assert counts(ledger) == before


def test_model_show_fast_path_agrees_with_the_full_path(ledger, project):
    """On SQLite `model show` answers through the stdlib driver; every kind of reference must give
    what the SQLAlchemy path gives, and anything it cannot answer falls through to that path."""
    from modelledger.core.errors import AmbiguousReference
    from modelledger.ledger.home import open_config
    from modelledger.models.status import show as quick_show
    from modelledger.releases import environments
    from tests.people import promote_approved

    a = register(ledger, req(project, code_ref="r@1", params={"n": 1})).version
    b = register(ledger, req(project, code_ref="r@2", params={"n": 2})).version
    models.amend_card(ledger, a.id, {"intended_use": "tests"})
    environments.create(ledger, "production")
    promote_approved(ledger, b.id, "production")
    fresh = open_config(ledger.config)  # not yet connected: the fast path is taken
    try:
        for ref in (a.id, a.id[:10], a.id[3:12], "delay@1", "delay@2", "delay@production"):
            assert quick_show(fresh, ref) == models.show(ledger, ref), ref
        if ledger.db.dialect == "sqlite":
            assert "db" not in fresh.__dict__  # answered without SQLAlchemy
        with pytest.raises(NotFound, match="delay@9"):
            quick_show(fresh, "delay@9")
        with pytest.raises(NotFound):
            quick_show(fresh, "other@production")
        with pytest.raises((NotFound, AmbiguousReference)):
            quick_show(fresh, "mv-0000")
    finally:
        fresh.close()


def test_a_forked_child_registers_after_its_parent_did(ledger, repo):
    """A training script that registers, then forks workers that register too: the child gets
    worker threads of its own (the parent's are not inherited) instead of waiting forever."""
    import signal

    register(ledger, req(repo, content=b"parent"))
    ledger.db.engine.dispose()  # no connection shared across the fork (SQLAlchemy's rule)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        signal.alarm(20)
        try:
            number = register(ledger, req(repo, content=b"child")).version.number
            os._exit(0 if number == 2 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with {status}"
    assert [v.number for v in models.list_versions(ledger, "delay")] == [2, 1]


def test_the_artifact_is_hashed_before_the_write_lock_is_taken(ledger, repo, monkeypatch):
    """Other writers (the serving log) wait on the ledger's write lock: hashing a big artifact
    must not hold it."""
    import hashlib
    from types import SimpleNamespace

    from modelledger.blobs import store as store_module

    size = 5000
    seen: list[str] = []

    def sha256(*data):
        if data and len(data[0]) == size:
            seen.append("hash")
        return hashlib.sha256(*data)

    monkeypatch.setattr(store_module, "hashlib", SimpleNamespace(sha256=sha256))
    write_lock = ledger.db.write

    def write(**kw):
        seen.append("write")
        return write_lock(**kw)

    monkeypatch.setattr(ledger.db, "write", write)
    content = os.urandom(size)
    version = register(ledger, req(repo, content=content)).version
    assert version.tuple.artifact.sha256 == hashlib.sha256(content).hexdigest()
    assert seen == ["hash", "write"]


def test_cli_counts_an_untracked_script_but_not_the_files_it_reads(ledger_cli, project):
    cli = ledger_cli
    write(project / "train.py", "print('train')\n")
    git(project, "init", "-q")
    git(project, "add", "train.py")
    git(project, "commit", "-qm", "init")
    write(project / "card.yaml", "intended_use: tests\n")
    write(project / "params.yaml", "lr: 0.1\n")
    write(project / "model.bin", b"w")
    args = ["model", "register", "m", "-a", "model.bin", "--card", "card.yaml"]
    out = cli(*args, "--params-file", "params.yaml", "--json")
    assert '"dirty": false' in out.stdout  # the artifact, card and params file are not code
    write(project / "helpers.py", "K = 3\n")
    refused = cli(*args, "--param", "lr=0.2", code=2)
    assert "helpers.py (untracked)" in refused.stderr and ".gitignore" in refused.stderr
    taken = cli(*args, "--param", "lr=0.2", "--allow-dirty", "--json")
    assert '"dirty": true' in taken.stdout and '"path": "helpers.py"' in taken.stdout
