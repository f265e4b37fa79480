"""Setting up and changing who is who: the root admin, principals, their grants and keys.

Every change but the first is signed by an admin's key and checked against the directory as it
stands in the same write transaction, so two admins changing things at once cannot both build on
the same predecessor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.identity import signing, store
from modelledger.identity.directory import Directory, Principal
from modelledger.identity.roles import check_name, parse_grant
from modelledger.ledger.home import Ledger, now


@dataclass(frozen=True)
class Change:
    principal: Principal
    events: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.principal.to_json(), "events": list(self.events)}


def directory(ledger: Ledger) -> Directory:
    with ledger.db.read() as conn:
        return store.directory(conn)


def signing_key(ledger: Ledger, given: Any = None) -> Any:
    """The caller's signing key for an act that may need one: the one given (a path), loaded;
    else none for a ledger without identities; else the default key if there is one. None
    means the use case says what is missing, and only if the act needs a signature."""
    from modelledger.identity import keyfile

    if given is None and directory(ledger).empty:
        return None
    return keyfile.load_if_any(given)


def whoami(ledger: Ledger, private_key: Any) -> Principal:
    """The principal whose active key ``private_key`` is; NotFound when it is nobody's."""
    key = signing.public_key_text(private_key)
    who = directory(ledger).signer(key)
    if who is None:
        raise NotFound(
            f"key {signing.fingerprint(key)} belongs to no one in this ledger (or was revoked, "
            "or its owner disabled): an admin adds it with `mledger identity add … --key PUB`"
        )
    return who


def init_root(ledger: Ledger, name: str, private_key: Any) -> Change:
    """Name the first admin, who signs with ``private_key``; refused once identities exist."""
    check_name(name)
    key = signing.public_key_text(private_key)
    with ledger.db.write() as conn:
        if not store.directory(conn).empty:
            raise InvalidInput(
                "this ledger's identities are set up already (`mledger identity list`)"
            )
        ev = store.append_signed(
            conn, "identity.root", name, name, now(), {"name": name, "key": key}, private_key
        )
    return Change(Principal(name, "person", (parse_grant("admin"),)), (ev.seq,))


def save(
    ledger: Ledger,
    admin_key: Any,
    name: str,
    *,
    kind: str | None = None,
    grant: Sequence[str] = (),
    revoke: Sequence[str] = (),
    join: Sequence[str] = (),
    leave: Sequence[str] = (),
    disabled: bool | None = None,
    add_keys: Sequence[str] = (),
    revoke_keys: Sequence[str] = (),
    create: bool = False,
) -> Change:
    """Add a principal (``create``) or change one: grants, groups, enabled, keys."""
    check_name(name)
    for group in (*join, *leave):
        check_name(group, "group")
    given = [parse_grant(g) for g in grant]
    taken = {parse_grant(g) for g in revoke}
    with ledger.db.write() as conn:
        d = store.directory(conn)
        actor = _actor(d, admin_key)
        old = d.principals.get(name)
        if create and old is not None:
            raise InvalidInput(f"{name} exists already: change it with `mledger identity grant …`")
        if not create and old is None:
            raise NotFound(f"no principal {name!r} (`mledger identity list`)")
        grants = sorted({*(old.grants if old else ()), *given} - taken)
        groups = sorted({*(old.groups if old else ()), *join} - set(leave))
        new = Principal(
            name,
            kind or (old.kind if old else "person"),
            tuple(grants),
            tuple(groups),
            old.disabled if disabled is None and old else bool(disabled),
        )
        at, seqs = now(), []
        if new != old:
            body = {k: v for k, v in new.to_json().items()}
            ev = store.append_signed(conn, "identity.principal", name, actor, at, body, admin_key)
            seqs.append(ev.seq)
        for key in add_keys:
            body = {"principal": name, "key": key, "action": "add"}
            seqs.append(
                store.append_signed(conn, "identity.key", name, actor, at, body, admin_key).seq
            )
        for wanted in revoke_keys:
            key = _key_of(store.directory(conn), name, wanted)
            body = {"principal": name, "key": key, "action": "revoke"}
            seqs.append(
                store.append_signed(conn, "identity.key", name, actor, at, body, admin_key).seq
            )
    return Change(new, tuple(seqs))


def _actor(d: Directory, admin_key: Any) -> str:
    who = d.signer(signing.public_key_text(admin_key))
    if who is None or not who.can("admin"):
        from modelledger.core.errors import NotAllowed

        if d.empty:
            raise InvalidInput(
                "no identities yet: `mledger identity init NAME` names the first admin"
            )
        raise NotAllowed("changing identities takes an admin's key (--key or MLEDGER_KEY)")
    return who.name


def _key_of(d: Directory, name: str, wanted: str) -> str:
    """A key of ``name`` by its text or fingerprint (a prefix of it)."""
    mine = [k for k in d.keys_of(name) if k.revoked_seq is None]
    found = [k.key for k in mine if wanted in (k.key,) or k.fingerprint.startswith(wanted)]
    if len(found) != 1:
        listed = ", ".join(k.fingerprint for k in mine) or "none"
        raise NotFound(f"{name} has no one active key matching {wanted!r} (theirs: {listed})")
    return found[0]
