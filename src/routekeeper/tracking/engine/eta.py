"""ETAs for the remaining stops of a route, from the worker's position, in sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from routekeeper.tracking.engine.fixes import require_aware
from routekeeper.travel.base import LonLat, TravelModel, travel_pairs


@dataclass(frozen=True, slots=True)
class Stop:
    """A remaining stop: where, its time window, how long service takes, and whether on site.

    ``on_site_since_at`` is when the worker arrived at a stop they are on site at; without it
    the whole ``service_s`` is assumed still to come.
    """

    order_key: str
    location: LonLat
    scheduled_after: datetime | None
    scheduled_at: datetime | None
    service_s: float
    on_site: bool = False
    on_site_since_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StopEta:
    """The estimate for one stop; distance and duration are cumulative from the position."""

    order_key: str
    arrive_at: datetime
    service_start_at: datetime
    depart_at: datetime
    remaining_distance_m: float
    remaining_duration_s: float
    wait_s: float
    on_site: bool


def estimate_remaining(
    position: LonLat, at: datetime, stops: Sequence[Stop], travel: TravelModel
) -> list[StopEta]:
    """Estimate arrival at each stop in order, waiting for ``scheduled_after`` and serving each.

    One call measures every leg (:func:`travel_pairs`: from the position to the first stop,
    then from each stop to the next).  A stop the worker is on site at has
    a zero leg and only its unfinished service time.  ``arrive_at`` is never before ``at``;
    ``remaining_duration_s`` is ``arrive_at - at`` (travel, waits and earlier services).
    The list stops before the first stop no road leads to.
    """
    at = require_aware(at, "at")
    if not stops:
        return []
    origins = [position, *(s.location for s in stops[:-1])]
    legs = travel_pairs(travel, origins, [s.location for s in stops])
    clock = at
    distance_m = 0.0
    out: list[StopEta] = []
    for i, stop in enumerate(stops):
        leg = legs[i]
        if stop.on_site:
            leg_m, leg_s = 0.0, 0.0
        elif leg is None:
            # No road to this stop (a part of the road graph the worker is not on): no ETA for
            # it or any later stop rather than an invented one; earlier ones stand.
            break
        else:
            leg_m, leg_s = float(leg[0]), float(leg[1])
        distance_m += max(0.0, leg_m)
        arrive_at = clock + timedelta(seconds=max(0.0, leg_s))
        service_start_at = arrive_at
        if stop.scheduled_after is not None and stop.scheduled_after > service_start_at:
            service_start_at = stop.scheduled_after
        remaining_service_s = max(0.0, stop.service_s)
        if stop.on_site and stop.on_site_since_at is not None:
            started = max(stop.on_site_since_at, stop.scheduled_after or stop.on_site_since_at)
            done_s = max(0.0, (at - started).total_seconds())
            remaining_service_s = max(0.0, remaining_service_s - done_s)
        depart_at = service_start_at + timedelta(seconds=remaining_service_s)
        out.append(
            StopEta(
                order_key=stop.order_key,
                arrive_at=arrive_at,
                service_start_at=service_start_at,
                depart_at=depart_at,
                remaining_distance_m=distance_m,
                remaining_duration_s=(arrive_at - at).total_seconds(),
                wait_s=(service_start_at - arrive_at).total_seconds(),
                on_site=stop.on_site,
            )
        )
        clock = depart_at
    return out
