"""What reproducing a version takes, element by element, and what is missing: pure, from the
version's record and facts the caller read (which blobs the store holds, whether the repository
is here). A version that cannot be reproduced says exactly which element is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelledger.models import training_command as commands


@dataclass(frozen=True)
class Facts:
    repo_here: bool  # the recorded git root exists on this machine
    has_commit: bool  # it holds the recorded commit
    diff_stored: bool  # the dirty diff's blob is in the store (when there is one)
    lock_stored: bool
    snapshots: dict[str, str]  # id → "ok", or why its bytes cannot be had
    eval_sets: list[str]  # eval sets the version has results on
    inputs: dict[str, str] | None  # the model card's declared inputs


@dataclass
class Step:
    name: str
    what: str
    ok: bool = True
    missing: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, "what": self.what, "ok": self.ok, "missing": self.missing}


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [f"{s.name}: {s.missing}" for s in self.steps if not s.ok and s.missing]

    @property
    def runnable(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "runnable": self.runnable,
            "missing": self.missing,
            "steps": [s.to_json() for s in self.steps],
        }


def plan(version: dict[str, Any], facts: Facts) -> Plan:
    t, manifest = version["tuple"], version.get("manifest") or {}
    out = Plan()

    def step(name: str, what: str, missing: str | None = None) -> None:
        out.steps.append(Step(name, what, missing is None, missing))

    if version.get("irreproducible_reason"):
        step(
            "record",
            "the version's lineage",
            f"marked irreproducible: {version['irreproducible_reason']}",
        )
    code, git_root = t.get("code"), manifest.get("git_root")
    if code is None:
        step("code", "the training code", "no code was recorded (not registered from a git tree)")
    elif code["kind"] != "git":
        step(
            "code",
            f"code reference {code.get('ref')!r}",
            "the code is a free-form reference, not a git commit to check out",
        )
    elif not facts.repo_here:
        step(
            "code",
            f"git worktree at {code['commit'][:12]}",
            f"the repository {git_root} is not on this machine",
        )
    elif not facts.has_commit:
        step(
            "code",
            f"git worktree at {code['commit'][:12]}",
            f"{git_root} does not hold commit {code['commit']}",
        )
    elif code.get("dirty") and not facts.diff_stored:
        step(
            "code",
            f"git worktree at {code['commit'][:12]} + recorded diff",
            "the recorded diff of the dirty tree is not in the store",
        )
    else:
        extra = " + the recorded diff" if code.get("dirty") else ""
        step("code", f"git worktree at {code['commit'][:12]}{extra}")
    for d in t.get("data") or []:
        status = facts.snapshots.get(d["id"], "not in the ledger")
        step(
            "data", f"checkout of {d['id'][:15]} ({d['role']})", None if status == "ok" else status
        )
    if not t.get("lock_sha256"):
        step("environment", "the dependency lock", "no dependency lock was recorded")
    elif not facts.lock_stored:
        step("environment", "the dependency lock", "the recorded lock is not in the store")
    else:
        step("environment", f"packages of lock {t['lock_sha256'][:12]}")
    cmd = manifest.get(commands.KEY)
    if cmd is None:
        step(
            "command",
            "the training command",
            "no training command was recorded (ml.run records it; `model register --command` for the CLI)",
        )
    elif git_root is not None and commands.relative_cwd(cmd, git_root) is None:
        step(
            "command", commands.describe(cmd), f"it ran in {cmd.get('cwd')}, outside the repository"
        )
    else:
        seed = t.get("seed")
        step("command", commands.describe(cmd) + (f" with seed {seed}" if seed is not None else ""))
    step("bitwise", f"sha256 of the new artifact against {t['artifact']['sha256'][:12]}")
    if facts.eval_sets and version.get("loader") and facts.inputs:
        step(
            "behaviour", f"outputs on eval set {facts.eval_sets[0][:15]} compared (KS / chi-square)"
        )
    else:
        why = (
            "no eval results"
            if not facts.eval_sets
            else "no loader"
            if not version.get("loader")
            else "no declared inputs in its card"
        )
        out.steps.append(
            Step("behaviour", f"only if the bytes differ: {why}, so bitwise only", True)
        )
    return out
