"""Estimated routes behind ETA webhooks: stored when the event is written, read by id (2.7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from routekeeper.core.errors import HttpError
from routekeeper.core.ids import new_id
from routekeeper.models.estimated_route import EstimatedRoute
from routekeeper.travel.base import LonLat


def _point(location: LonLat) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [location[0], location[1]]}


def record(session: Session, account_id: str, order_id: str, points: Sequence[LonLat], *,
           distance_m: int | None, duration_s: int | None, now: datetime) -> str:
    """Store the drive through ``points`` (worker position first) and return its new id."""
    row = EstimatedRoute(
        account_id=account_id, estimated_route_id=new_id(), order_id=order_id,
        polyline={"type": "LineString", "coordinates": [[p[0], p[1]] for p in points]},
        start_location=_point(points[0]) if points else None,
        end_location=_point(points[-1]) if points else None,
        distance=distance_m, duration=duration_s, created_at=now,
    )
    session.add(row)
    return row.estimated_route_id


def _valid_id(value: str) -> bool:
    """Whether ``value`` can name a row (a NUL would be a database error on PostgreSQL)."""
    return 0 < len(value) <= 36 and "\x00" not in value


def get(session: Session, account_id: str, estimated_route_id: str) -> dict[str, Any]:
    """The estimated route in the contract's shape, or a 404 ``HTTPError``."""
    row = session.get(EstimatedRoute, (account_id, estimated_route_id)) \
        if _valid_id(estimated_route_id) else None
    if row is None:
        raise HttpError(404, "Estimated route not found", {
            "description": f"Estimated route not found for id "
                           f"{estimated_route_id.replace(chr(0), '')}"})
    return {"estimated_route_id": row.estimated_route_id, "polyline": row.polyline,
            "start_location": row.start_location, "end_location": row.end_location,
            "distance": row.distance, "duration": row.duration}


class EstimatedRouteRead(BaseModel):
    """``GET /orders/estimated-routes/{id}``: the drive behind an ETA webhook."""

    estimated_route_id: str
    polyline: dict[str, Any] | None = None
    start_location: dict[str, Any] | None = None
    end_location: dict[str, Any] | None = None
    distance: int | None = None
    duration: int | None = None
