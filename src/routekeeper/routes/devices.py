"""Which of a worker's devices tracks their route (``device_switch_mode``, contract 2.3).

- ``login`` (the default): the device the worker last used (the one last heard from, else
  the one registered last), and later whichever of their devices reports (see
  ``tracking.ingest``: a switch is recorded and sent as ``device_switched``);
- ``closest_to_destination``: of the worker's devices with a known position, the one nearest
  the first open stop (else as ``login``); later reports switch as with ``login``;
- ``manual``: the device the route already has (else as ``login``), kept for good.
"""

from __future__ import annotations

from collections.abc import Sequence

from routekeeper.models.device import Device
from routekeeper.travel.base import LonLat
from routekeeper.travel.straight import haversine_m

LOGIN, MANUAL, CLOSEST = "login", "manual", "closest_to_destination"


def choose_device(devices: Sequence[Device], *, mode: str, current: str | None,
                  destination: LonLat | None) -> str | None:
    """The device to put on a route being started; ``devices`` come last-used first."""
    if mode == MANUAL and current is not None:
        return current
    if not devices:
        return current
    if mode == CLOSEST and destination is not None:
        located = [d for d in devices if d.last_lon is not None and d.last_lat is not None]
        if located:
            return min(located, key=lambda d: haversine_m(
                (float(d.last_lon or 0.0), float(d.last_lat or 0.0)), destination)).device_id
    return devices[0].device_id


def follows_reports(mode: str | None) -> bool:
    """Whether a route switches to whichever of the worker's devices reports."""
    return mode != MANUAL
