"""People for tests: signing keys, a ledger's identities, and promotions approved by signature.

Promotion needs signed approvals, so a test that wants something live sets up people first.
Keys are written under ``<project>/.keys/NAME.pem``; the first requester is the ledger's root
admin, a later one a writer.

CLI tests:    promote_via_cli(cli, project, "churn@2", "production", approvers=("bob",))
Python tests: promote_approved(ledger, "churn@2", "production", approvers=("bob",))
Both return what ``promote --json`` prints for a promotion (``id``, ``approvers``, ``event`` …).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelledger.identity import keyfile, manage
from modelledger.ledger.home import Ledger

REQUESTER = "carol"


def key_file(project: Path, name: str) -> Path:
    """NAME's signing key in the project (made on first use)."""
    path = project / ".keys" / f"{name}.pem"
    if not path.exists():
        keyfile.generate(path)
    return path


def key_of(project: Path, name: str) -> Any:
    return keyfile.load(key_file(project, name))


def people(
    ledger: Ledger,
    project: Path,
    approvers: Sequence[str] = ("bob",),
    requester: str = REQUESTER,
    roles: Sequence[str] = ("approver",),
    groups: Sequence[str] = (),
) -> None:
    """``requester`` as the root admin when the ledger has no identities yet (else as a writer,
    added by the root admin when missing), each of ``approvers`` with ``roles`` and ``groups``;
    people already there are left as they are."""
    from modelledger.identity.signing import public_key_text

    d = manage.directory(ledger)
    if d.empty:
        manage.init_root(ledger, requester, key_of(project, requester))
        d = manage.directory(ledger)
    admin = key_of(project, next(iter(d.principals)))  # the root admin
    wanted = [(requester, ("writer",), ())] + [(name, roles, groups) for name in approvers]
    for name, grant, join in wanted:
        if name not in d.principals:
            public = public_key_text(key_of(project, name))
            manage.save(ledger, admin, name, grant=grant, join=join, add_keys=[public], create=True)


def promote_approved(ledger: Ledger, ref: str, env: str, *args: Any, **kw: Any) -> dict[str, Any]:
    """``approved`` as the JSON ``promote --json`` prints for a promotion."""
    return dict(approved(ledger, ref, env, *args, **kw).to_json())


def approved(
    ledger: Ledger,
    ref: str,
    env: str,
    approvers: Sequence[str] = ("bob",),
    *,
    project: Path | None = None,
    requester: str = REQUESTER,
    reason: str | None = None,
    override: bool = False,
    expect_live: str | None = None,
) -> Any:
    """Open the request as ``requester`` and approve it as each of ``approvers``: the
    promotion (a ``Promotion``, or the ``Executed`` move of the last approval), with ``.move``
    and ``.event_seq``."""
    from modelledger.releases.promote import Promotion, promote
    from modelledger.releases.workflow import decide_request

    project = project or home_project(ledger)
    people(ledger, project, approvers, requester)
    done = promote(ledger, ref, env, reason, override, expect_live, key_of(project, requester))
    if isinstance(done, Promotion):
        return done
    last = None
    for name in approvers:
        last = decide_request(ledger, done.request.id, key_of(project, name), "approve")
        if last.executed is not None:
            return last.executed
    raise AssertionError(f"{ref} not promoted: {last.state.status if last else 'no approvers'}")


def promote_via_cli(
    cli: Any,
    project: Path,
    ref: str,
    env: str,
    *args: str,
    approvers: Sequence[str] = ("bob",),
    requester: str = REQUESTER,
    code: int = 0,
) -> dict[str, Any]:
    """``mledger promote REF --to ENV ARGS`` as ``requester``, then ``mledger approve`` as each
    approver, all through the CLI: the promotion's JSON, or the failing command's when
    ``code`` is not 0."""
    people_via_cli(cli, project, approvers, requester)
    req_key = str(key_file(project, requester))
    first = _stdout(cli("promote", ref, "--to", env, *args, "--key", req_key, "--json", code=code))
    out = json.loads(first) if first.strip() else {}
    if code != 0 or out.get("promoted"):
        return out
    request = out["request"]["id"]
    for i, name in enumerate(approvers):
        last = i == len(approvers) - 1
        done = json.loads(
            _stdout(cli("approve", request, "--key", str(key_file(project, name)), "--json"))
        )
        if done["promoted"]:
            return dict(done["promotion"])
        assert not last, f"{ref} not promoted after every approval: {done['request']['status']}"
    return out


def people_via_cli(
    cli: Any,
    project: Path,
    approvers: Sequence[str] = ("bob",),
    requester: str = REQUESTER,
    role: str = "approver",
) -> None:
    """``people`` through ``mledger identity``."""
    listed = json.loads(_stdout(cli("identity", "list", "--json")))["principals"]
    names = [p["name"] for p in listed if "admin" in p["grants"]] + [p["name"] for p in listed]
    if not names:
        cli("identity", "init", requester, "--key", str(key_file(project, requester)))
        names.append(requester)
    admin = str(key_file(project, names[0]))  # an admin
    for name, grant in [(requester, "writer"), *((name, role) for name in approvers)]:
        if name not in names:
            cli(
                "identity", "add", name, "--role", grant,
                "--public-key", str(key_file(project, name)), "--key", admin,
            )  # fmt: skip
            names.append(name)


def _stdout(result: Any) -> str:
    """What a command printed: ``cli`` fixtures return a result, some runners the text."""
    return result if isinstance(result, str) else str(result.stdout)


def home_project(ledger: Ledger) -> Path:
    home = ledger.config.home
    assert home is not None, "give project= for a ledger without a home folder"
    return Path(home).parent


def key_for(ledger: Ledger, name: str) -> Any:
    """NAME's key in the project of ``ledger``'s home folder."""
    return key_of(home_project(ledger), name)
