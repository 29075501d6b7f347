"""The breaks and reloads of a solved route, as the entries a route keeps (``route.day_stops``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from routekeeper.core.timefmt import format_ts
from routekeeper.planning.optimizer import Problem, StopKind
from routekeeper.planning.optimizer import Route as PlannedRoute
from routekeeper.routes.daystops import BREAK, RELOAD


def day_stops(
    problem: Problem, planned: PlannedRoute, reference_at: datetime
) -> list[dict[str, Any]] | None:
    """Each break and reload of the route, anchored after the job (order id) before it."""
    vehicle = next(v for v in problem.vehicles if v.id == planned.vehicle_id)
    windows = {rest.id: rest for rest in vehicle.breaks}
    entries: list[dict[str, Any]] = []
    anchor: str | None = None
    for stop in planned.stops:
        if stop.kind is StopKind.JOB:
            anchor = stop.job_id
        elif stop.kind is StopKind.BREAK:
            rest = windows[stop.job_id]
            entries.append({
                "kind": BREAK, "id": rest.id, "after_order_id": anchor,
                "after": format_ts(reference_at + timedelta(seconds=rest.early_s)),
                "before": format_ts(reference_at + timedelta(seconds=rest.late_s)),
                "duration": rest.duration_s,
            })
        else:
            lon, lat = problem.locations[stop.location]
            entries.append({"kind": RELOAD, "after_order_id": anchor, "location": [lon, lat],
                            "duration": vehicle.reload_s})
    return entries or None
