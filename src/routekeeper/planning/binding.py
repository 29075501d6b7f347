"""What bound a solved route, as the route keeps it (``route.bound_by``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from routekeeper.core.timefmt import format_ts
from routekeeper.planning.optimizer import MAX_TIME_S, UNLIMITED_CAPACITY
from routekeeper.planning.optimizer import Route as PlannedRoute
from routekeeper.planning.optimizer.explain import explain
from routekeeper.planning.optimizer.model import Problem


def binding(problem: Problem, planned: PlannedRoute, reference_at: datetime) -> dict[str, Any]:
    """The start and end reasons of ``docs/optimizer.md`` with their figures (wire units)."""
    found = explain(problem, planned)

    def at(seconds: int) -> str | None:
        return None if seconds >= MAX_TIME_S else format_ts(reference_at
                                                            + timedelta(seconds=seconds))

    return {
        "start": {"reason": found.start_reason, "order_id": found.start_job,
                  "start_at": at(planned.start_s)},
        "end": {"reason": found.end_reason, "load": found.peak_load,
                "capacity": None if found.capacity >= UNLIMITED_CAPACITY else found.capacity,
                "finish_at": at(found.finish_s), "shift_end_at": at(found.shift_end_s),
                "distance": found.distance_m, "max_distance": found.max_distance_m},
    }
