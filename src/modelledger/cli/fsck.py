"""``mledger fsck``: check the whole blob store against its hashes and against every record
that names a blob. It sits at the root because the records belong to every capability (data,
models, evals, predictions, drift); each is read through that capability's store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from modelledger.console.options import JsonOpt
from modelledger.console.output import emit_json

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from modelledger.blobs.fsck import Named


def fsck(
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Remove temp files left by writers that are gone. Nothing else is ever removed: "
        "orphans are only counted.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Re-hash every stored object and check what the ledger names; name each damage (exit 1)."""
    from modelledger.blobs.fsck import Progress
    from modelledger.blobs.fsck import fsck as check_store
    from modelledger.console.progress import LazyProgress
    from modelledger.ledger.home import open_ledger

    with open_ledger() as ledger:
        with ledger.db.read() as conn:
            named = named_blobs(conn)
        with LazyProgress("re-hashing", enabled=not as_json) as bar:
            report = check_store(ledger.blobs, named, repair, Progress(bar.total, bar.advance))
    if as_json:
        emit_json(report.to_json())
    else:
        for d in report.damage:
            typer.echo(f"{d.kind}: {d.target}: {d.detail}", err=True)
        for path in report.removed:
            typer.echo(f"removed leftover temp file {path}")
        verdict = "ok" if report.ok else f"DAMAGED ({len(report.damage)} problems)"
        typer.echo(f"{verdict}: {report.summary()}")
    if not report.ok:
        raise typer.Exit(1)


def named_blobs(conn: Connection) -> list[Named]:
    """Every blob a record names: snapshot trees (their files follow from the listing), the
    code of transforms, model artifacts, locks and code diffs, eval reports, prediction
    segments and reference profiles; not those of versions and snapshots gc collected."""
    from modelledger.blobs.fsck import Named
    from modelledger.data.store import snapshots, transforms
    from modelledger.drift.store.blob_refs import profile_blobs
    from modelledger.ledger import tombstones
    from modelledger.models.store import versions
    from modelledger.predictions.store.blob_refs import eval_report_blobs, segment_blobs

    found: list[Named] = []
    gone = tombstones.subjects(conn)  # collected by gc under the retention policy: not damage
    snaps = snapshots.listing(conn, None, limit=None)
    for snap in snaps:
        if snap.id in gone:
            continue
        found.append(
            Named(snap.tree_sha256, f"snapshot {snap.id}", listing=(snap.file_count, snap.size))
        )
    for tf in transforms.producing(conn, [s.id for s in snaps]):
        code_sha = (tf.code or {}).get("sha256")
        if isinstance(code_sha, str):
            found.append(Named(code_sha, f"transform {tf.id} code"))
    for v in versions.listing(conn, None, limit=None):
        if v.id in gone:
            continue
        art = v.tuple.artifact
        if art.kind == "tree":
            found.append(Named(art.sha256, f"{v.id} artifact", listing=(None, art.size or None)))
        else:
            found.append(Named(art.sha256, f"{v.id} artifact", art.size or None))
        if v.tuple.lock_sha256:
            found.append(Named(v.tuple.lock_sha256, f"{v.id} environment lock"))
        if v.tuple.code is not None and v.tuple.code.diff_sha256:
            found.append(Named(v.tuple.code.diff_sha256, f"{v.id} code diff"))
    for row in eval_report_blobs(conn):
        found.append(Named(row["report_sha256"], f"eval result {row['id']} report"))
    for row in segment_blobs(conn):
        found.append(Named(row["id"], f"prediction segment ({row['env']})", int(row["size"])))
    for version_id, sha in profile_blobs(conn):
        found.append(Named(sha, f"{version_id} reference profile"))
    return found
