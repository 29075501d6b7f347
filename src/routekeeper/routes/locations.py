"""Where a route starts and ends, from the ops group's settings (contract section 6)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.worker import Worker
from routekeeper.travel.base import LonLat

# "Where is this worker now?": the last known position of a worker's devices, if any.
# The tracking domain answers it (tracking.service.worker_location); callers pass it in.
LiveLocation = Callable[[Session, str, str], LonLat | None]


def _point(place: dict[str, object] | None) -> LonLat | None:
    geometry = place.get("geometry") if place else None
    if not isinstance(geometry, dict):
        return None
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return None
    return float(coordinates[0]), float(coordinates[1])


def live_location(session: Session, worker: Worker, live: LiveLocation) -> LonLat | None:
    """The worker's last known position (the last fix of their devices), if any."""
    return live(session, worker.account_id, worker.worker_handle)


def start_location(
    session: Session, group: OpsGroup, worker: Worker | None, *, live: LiveLocation
) -> LonLat | None:
    """The start per ``route_start_location``; None when that location is unknown.

    ``live_location`` falls back to the worker's home and then the ops group home when the
    worker has sent no position yet, so a planned route still gets an estimate.
    """
    home = _point(worker.home) if worker else None
    group_home = _point(group.ops_group_home)
    mode = group.route_start_location
    if mode == "driver_home":
        return home
    if mode == "ops_group_home":
        return group_home
    here = live_location(session, worker, live) if worker is not None else None
    return here or home or group_home


def returns_to_start(group: OpsGroup) -> bool:
    """Whether routes of this group end back at their start."""
    return group.route_completion_type == "return_to_start_location"
