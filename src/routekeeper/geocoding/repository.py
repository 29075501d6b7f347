"""The per-account cache of geocoder answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from routekeeper.models.geocode_cache import GeocodeCache

# Keys per IN list: well under SQLite's bound-parameter limit.
CHUNK = 500


def cached(
    session: Session, account_id: str, keys: Iterable[str], *, fresh_after: datetime
) -> dict[str, dict[str, Any]]:
    """The cached answers among ``keys`` that are newer than ``fresh_after``."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(GeocodeCache.key, GeocodeCache.result).where(
                GeocodeCache.account_id == account_id,
                GeocodeCache.key.in_(wanted[start:start + CHUNK]),
                GeocodeCache.created_at > fresh_after,
            )
        )
        found.update({key: result for key, result in rows})
    return found


def store(
    session: Session, account_id: str, entries: list[tuple[str, str, str, dict[str, Any]]],
    *, now: datetime,
) -> None:
    """Keep ``(key, kind, query, result)`` answers, replacing older ones of the same key.

    An upsert, so two requests that geocode the same address at once both succeed.
    """
    if not entries:
        return
    rows = [{"account_id": account_id, "key": key, "kind": kind, "query": query[:2000],
             "result": result, "created_at": now}
            for key, kind, query, result in dict((e[0], e) for e in entries).values()]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(rows), CHUNK):
        statement = insert(GeocodeCache).values(rows[start:start + CHUNK])
        session.execute(statement.on_conflict_do_update(
            index_elements=["account_id", "key"],
            set_={"result": statement.excluded.result,
                  "created_at": statement.excluded.created_at},
        ))
