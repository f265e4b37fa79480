"""Tags and descriptions of versions: the current value of each (the events hold every change)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from modelledger.ledger.schema import version_descriptions, version_tags


def tags(conn: Connection, version_id: str) -> dict[str, str]:
    q = select(version_tags.c.key, version_tags.c.value).where(
        version_tags.c.version_id == version_id
    )
    return {key: value for key, value in sorted(conn.execute(q))}


def tags_of(conn: Connection, version_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = sorted(set(version_ids))
    out: dict[str, dict[str, str]] = {v: {} for v in wanted}
    for start in range(0, len(wanted), 500):  # bounded IN lists
        q = select(version_tags.c.version_id, version_tags.c.key, version_tags.c.value).where(
            version_tags.c.version_id.in_(wanted[start : start + 500])
        )
        for vid, key, value in conn.execute(q.order_by(version_tags.c.key)):
            out[vid][key] = value
    return out


def set_tag(
    conn: Connection, version_id: str, key: str, value: str, at: str, user: str, seq: int
) -> None:
    row = {"value": value, "at": at, "set_by": user, "event_seq": seq}
    done = conn.execute(
        update(version_tags)
        .where(version_tags.c.version_id == version_id, version_tags.c.key == key)
        .values(**row)
    )
    if done.rowcount == 0:
        conn.execute(insert(version_tags).values(version_id=version_id, key=key, **row))


def remove_tag(conn: Connection, version_id: str, key: str) -> None:
    conn.execute(
        delete(version_tags).where(
            version_tags.c.version_id == version_id, version_tags.c.key == key
        )
    )


def description(conn: Connection, version_id: str) -> str | None:
    q = select(version_descriptions.c.text).where(version_descriptions.c.version_id == version_id)
    return conn.execute(q).scalar()


def set_description(
    conn: Connection, version_id: str, text: str | None, at: str, user: str, seq: int
) -> None:
    conn.execute(
        delete(version_descriptions).where(version_descriptions.c.version_id == version_id)
    )
    if text is not None:
        conn.execute(
            insert(version_descriptions).values(
                version_id=version_id, text=text, at=at, set_by=user, event_seq=seq
            )
        )
