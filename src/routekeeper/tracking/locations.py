"""Answers "where is this worker now?" for route start locations (``live_location``).

The routes domain does not look this up by itself: whoever builds a ``RouteContext`` (the
endpoints' dependency, the planning job) passes ``tracking.service.worker_location`` in.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routekeeper.tracking import repository
from routekeeper.travel.base import LonLat


def worker_location(session: Session, account_id: str, worker_handle: str) -> LonLat | None:
    """The newest position any of the worker's devices reported, if one did."""
    device = repository.latest_worker_device(session, account_id, worker_handle)
    if device is None or device.last_lon is None or device.last_lat is None:
        return None
    return (device.last_lon, device.last_lat)

