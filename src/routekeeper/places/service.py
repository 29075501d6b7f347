"""Place rules: create, update (optionally moving the orders at the place), delete, history."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from routekeeper.models.place import Place
from routekeeper.places import repository


def by_handles(session: Session, account_id: str, handles: Iterable[str]) -> dict[str, Place]:
    """The account's places named by ``handles``."""
    return repository.by_handles(session, account_id, handles)


def by_ids(session: Session, account_id: str, ids: Iterable[str]) -> dict[str, Place]:
    """The account's places with these ids (an order's ``geofence_id`` is a ``place_id``)."""
    return repository.by_ids(session, account_id, ids)
