"""Answers "where is this worker now?" for route start locations (``live_location``).

Importing this module registers the provider with the routes domain; the API and the worker
both import it (through the tracking endpoints and tasks).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routekeeper.routes.locations import register_live_location
from routekeeper.tracking import repository
from routekeeper.travel.base import LonLat


def worker_location(session: Session, account_id: str, worker_handle: str) -> LonLat | None:
    """The newest position any of the worker's devices reported, if one did."""
    device = repository.latest_worker_device(session, account_id, worker_handle)
    if device is None or device.last_lon is None or device.last_lat is None:
        return None
    return (device.last_lon, device.last_lat)


register_live_location(worker_location)
