"""Queries of places and their history."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from routekeeper.db.filters import json_match, text_search
from routekeeper.models.order import Order
from routekeeper.models.place import Place, PlaceHistory
from routekeeper.places.schemas import PlaceFilters

CHUNK = 500
# Metres per degree of latitude (and of longitude at the equator).
M_PER_DEG = 111_195.0


def by_handles(session: Session, account_id: str, handles: Iterable[str]) -> dict[str, Place]:
    """The account's places among ``handles``, by handle."""
    wanted = list(dict.fromkeys(handles))
    found: dict[str, Place] = {}
    for start in range(0, len(wanted), CHUNK):
        for place in session.scalars(select(Place).where(
                Place.account_id == account_id,
                Place.place_handle.in_(wanted[start:start + CHUNK]))):
            found[place.place_handle] = place
    return found


def by_ids(session: Session, account_id: str, ids: Iterable[str]) -> dict[str, Place]:
    """The account's places among ``ids`` (``place_id``, also their ``geofence_id``)."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Place] = {}
    for start in range(0, len(wanted), CHUNK):
        for place in session.scalars(select(Place).where(
                Place.account_id == account_id, Place.place_id.in_(wanted[start:start + CHUNK]))):
            found[place.place_id] = place
    return found


def by_handle(session: Session, account_id: str, handle: str) -> Place | None:
    """One place by handle."""
    return session.scalar(select(Place).where(Place.account_id == account_id,
                                              Place.place_handle == handle))


def filtered(session: Session, account_id: str, filters: PlaceFilters) -> Select[Any]:
    """The SELECT of the account's places matching ``filters`` (no order, no limit)."""
    query = select(Place).where(Place.account_id == account_id)
    if filters.handles:
        query = query.where(Place.place_handle.in_(filters.handles))
    if filters.search_term:
        query = query.where(text_search(filters.search_term, [
            Place.place_handle, Place.place_id, Place.name], Place.metadata_))
    if filters.name:
        query = query.where(Place.name.icontains(filters.name, autoescape=True))
    if filters.lat is not None and filters.lon is not None and filters.radius is not None:
        # Equirectangular metres: exact enough within the few kilometres such a search spans,
        # and plain arithmetic on both databases.
        east = (Place.center_lon - filters.lon) * (M_PER_DEG * math.cos(math.radians(filters.lat)))
        north = (Place.center_lat - filters.lat) * M_PER_DEG
        query = query.where(east * east + north * north <= filters.radius ** 2)
    dialect = session.get_bind().dialect.name
    if filters.metadata:
        for key, value in json.loads(filters.metadata).items():
            query = query.where(json_match(Place.metadata_, dialect, key, value))
    if filters.geofence_type:
        query = query.where(Place.geometry["type"].as_string() == filters.geofence_type)
    return query


def order_counts(session: Session, account_id: str, handles: list[str]) -> dict[str, int]:
    """How many orders (any status, any attempt) name each place as their destination."""
    column = Order.destination["place_handle"].as_string()
    counts: dict[str, int] = {}
    for start in range(0, len(handles), CHUNK):
        rows = session.execute(
            select(column, func.count()).where(
                Order.account_id == account_id, column.in_(handles[start:start + CHUNK]))
            .group_by(column))
        counts.update({str(handle): int(n) for handle, n in rows})
    return counts


def kinds(session: Session, query: Select[Any]) -> dict[str, int]:
    """How many places of each geometry type ``query`` matches."""
    sub = query.subquery()
    kind = sub.c.geometry["type"].as_string()
    return {str(k): int(n) for k, n in session.execute(
        select(kind, func.count()).group_by(kind))}


def history(session: Session, account_id: str, handle: str) -> list[PlaceHistory]:
    """Every audited change of the places that had this handle, newest first."""
    return list(session.scalars(
        select(PlaceHistory).where(PlaceHistory.account_id == account_id,
                                   PlaceHistory.place_handle == handle)
        .order_by(PlaceHistory.changed_at.desc(), PlaceHistory.audit_id.desc())))
