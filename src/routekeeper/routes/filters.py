"""The filters of ``GET /orders/routes/`` (contract section 2.6).

``X_date`` is a UTC calendar day; ``X_from``/``X_to`` are UTC instants
(``YYYY-MM-DD HH:mm:ss`` or full ISO-8601), ``from`` inclusive, ``to`` exclusive. Every bad
value is a 422 naming its own query parameter.
"""

from __future__ import annotations

from typing import Any

from pydantic import create_model

from routekeeper.core import query_filters
from routekeeper.orders.schemas import SortDirection, TrackMode
from routekeeper.routes.states import RouteStatus

ROUTE_STATUSES = frozenset(s.value for s in RouteStatus)
PLAN_MODES = frozenset({"on_demand", "scheduled", "manual"})
DATE_STEMS = ("completed_at", "created_at", "planned_at", "start_by", "started_at")
WINDOW_STEMS = (*DATE_STEMS, "scheduled_start_at")
DATE_FILTERS = [f"{stem}_date" for stem in DATE_STEMS]
WINDOW_FILTERS = [f"{stem}_{edge}" for stem in WINDOW_STEMS for edge in ("from", "to")]


class RouteFilterFields(
    query_filters.TrackingFilters, query_filters.ListFilters, query_filters.QueryFilters
):
    """The fixed part of the route filters; the time filters are generated below."""

    STATUS_VALUES = ROUTE_STATUSES
    PLAN_MODE_VALUES = PLAN_MODES

    track_mode: TrackMode | None = None
    route_metadata_filter: query_filters.JsonObjectQuery = None
    device_metadata_filter: query_filters.JsonObjectQuery = None
    sort_direction: SortDirection = SortDirection.DESC

    @property
    def ops_groups(self) -> list[str]:
        """The ops group filter as a list."""
        return [g.strip() for g in (self.ops_group_handle or "").split(",") if g.strip()]

    @property
    def metadata_filter(self) -> dict[str, Any]:
        """The route metadata filter as an object."""
        return query_filters.metadata_filter(self.route_metadata_filter)


RouteFilters = create_model(  # type: ignore[call-overload]
    "RouteFilters", __base__=RouteFilterFields,
    **{name: (query_filters.QueryDate, None) for name in DATE_FILTERS},
    **{name: (query_filters.QueryInstant, None) for name in WINDOW_FILTERS},
)
RouteFilters.__doc__ = "Every filter of GET /orders/routes/."
