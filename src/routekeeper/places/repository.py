"""Queries of places and their history."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.models.place import Place

CHUNK = 500


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
