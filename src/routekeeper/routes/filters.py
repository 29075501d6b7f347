"""The filters of ``GET /orders/routes/`` (contract section 2.6).

``X_date`` is a UTC calendar day; ``X_from``/``X_to`` are UTC instants
(``YYYY-MM-DD HH:mm:ss`` or full ISO-8601), ``from`` inclusive, ``to`` exclusive. Every bad
value is a 422 naming its own query parameter.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, create_model, field_validator

from routekeeper.core.query_filters import (
    PageLimit,
    QueryDate,
    QueryFilters,
    QueryInstant,
    TrackingFilters,
    json_object_filter,
    one_of,
    status_list,
)
from routekeeper.core.query_filters import region_filter as check_region
from routekeeper.orders.schemas import SortDirection, TrackMode

ROUTE_STATUSES = frozenset({"planned", "assigned", "tracking", "completed"})
PLAN_MODES = frozenset({"on_demand", "scheduled", "manual"})
DATE_STEMS = ("completed_at", "created_at", "planned_at", "start_by", "started_at")
WINDOW_STEMS = (*DATE_STEMS, "scheduled_start_at")
DATE_FILTERS = [f"{stem}_date" for stem in DATE_STEMS]
WINDOW_FILTERS = [f"{stem}_{edge}" for stem in WINDOW_STEMS for edge in ("from", "to")]


class RouteFilterFields(TrackingFilters, QueryFilters):
    """The fixed part of the route filters; the time filters are generated below."""

    worker_handle: str | None = None
    driver_handle: str | None = None
    ops_group_handle: str | None = None
    plan_mode: str | None = None
    plan_id: str | None = None
    device_id: str | None = None
    status: str | None = None
    track_mode: TrackMode | None = None
    search_term: str | None = Field(default=None, max_length=200)
    region_filter: str | None = None
    route_metadata_filter: str | None = None
    device_metadata_filter: str | None = None
    sort_direction: SortDirection = SortDirection.DESC
    limit: PageLimit = 50
    pagination_token: str | None = Field(default=None, max_length=2000)

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        return status_list(value, ROUTE_STATUSES)

    @field_validator("plan_mode")
    @classmethod
    def _plan_mode(cls, value: str | None) -> str | None:
        return one_of(value, PLAN_MODES)

    @field_validator("route_metadata_filter", "device_metadata_filter")
    @classmethod
    def _metadata(cls, value: str | None) -> str | None:
        if value is not None:
            json_object_filter(value)
        return value

    @field_validator("region_filter")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return check_region(value)

    @property
    def statuses(self) -> list[str]:
        """The status filter as a list."""
        return self.status.split(",") if self.status else []

    @property
    def ops_groups(self) -> list[str]:
        """The ops group filter as a list."""
        return [g.strip() for g in (self.ops_group_handle or "").split(",") if g.strip()]

    @property
    def worker(self) -> str | None:
        """The worker filter (``driver_handle`` is its deprecated name)."""
        return self.worker_handle or self.driver_handle

    @property
    def metadata_filter(self) -> dict[str, Any]:
        """The route metadata filter as an object."""
        return dict(json.loads(self.route_metadata_filter)) if self.route_metadata_filter else {}

    @property
    def region(self) -> dict[str, str]:
        """The region filter as an object."""
        return dict(json.loads(self.region_filter)) if self.region_filter else {}


RouteFilters = create_model(  # type: ignore[call-overload]
    "RouteFilters", __base__=RouteFilterFields,
    **{name: (QueryDate, None) for name in DATE_FILTERS},
    **{name: (QueryInstant, None) for name in WINDOW_FILTERS},
)
RouteFilters.__doc__ = "Every filter of GET /orders/routes/."
