"""Outages: the spans of an order's tracked leg in which no location reached us.

HyperTrack reports an order's ``outage_summary`` as ``[{code, label, description, duration,
distance, category}]`` with categories ``behavioural``, ``adversarial``, ``reachability``,
``os`` and ``sporadic``. What a self-hosted server can observe from positions alone is
reachability: the device sent nothing for longer than ``actuals.TRACKING_GAP_S`` (switched
off, out of coverage, app killed). Such a gap is an outage; its distance is the straight line
between the fixes on either side (what the worker covered unseen). The leg's start and end
count as edges, so a device silent since the start is an outage too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from routekeeper.tracking.engine.actuals import TRACKING_GAP_S
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import haversine_m

REACHABILITY = "reachability"
UNREACHABLE = {
    "code": "device_unreachable",
    "label": "Device unreachable",
    "description": ("No location arrived from the device for longer than "
                    f"{int(TRACKING_GAP_S // 60)} minutes: it was off, offline or out of "
                    "coverage."),
    "category": REACHABILITY,
}


def outage_summary(
    fixes: Sequence[Fix], *, since_at: datetime, until_at: datetime,
    gap_s: float = TRACKING_GAP_S,
) -> list[dict[str, Any]]:
    """The outages of a leg from ``since_at`` to ``until_at`` given its fixes (oldest first):
    one item per outage kind with the total seconds and metres, or ``[]`` when none."""
    if until_at <= since_at:
        return []
    times = [since_at, *(f.recorded_at for f in fixes if since_at <= f.recorded_at <= until_at),
             until_at]
    inside = [f for f in fixes if since_at <= f.recorded_at <= until_at]
    duration = 0.0
    distance = 0.0
    for index in range(1, len(times)):
        gap = (times[index] - times[index - 1]).total_seconds()
        if gap <= gap_s:
            continue
        duration += gap
        # Fix ``index - 1`` ends at times[index]; the leg's own edges have no fix.
        before = inside[index - 2] if index >= 2 else None
        after = inside[index - 1] if index - 1 < len(inside) else None
        if before is not None and after is not None:
            distance += haversine_m(before.lonlat, after.lonlat)
    if duration <= 0.0:
        return []
    return [{**UNREACHABLE, "duration": round(duration), "distance": round(distance)}]


def merge(summaries: Iterable[Sequence[dict[str, Any]] | None]) -> list[dict[str, Any]]:
    """Several orders' summaries as one: per outage code, total seconds and metres and the
    number of orders that had it (the ``outage_summary`` of an aggregate or a route)."""
    merged: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        for item in summary or ():
            code = str(item.get("code"))
            entry = merged.setdefault(code, {**item, "duration": 0, "distance": 0,
                                             "count": 0})
            entry["duration"] += int(item.get("duration") or 0)
            entry["distance"] += int(item.get("distance") or 0)
            entry["count"] += 1
    return sorted(merged.values(), key=lambda e: str(e["code"]))
