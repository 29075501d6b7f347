"""The filters of ``GET /orders/`` (also the body of ``POST /orders/export``).

Date semantics (recorded in docs/compatibility.md):
- ``X_date`` (``YYYY-MM-DD``) is the calendar day in UTC;
- ``X_date_without_tz`` is the calendar day on the wall clock of the order's own time zone
  (the time zone of its ops group);
- ``X_from`` / ``X_to`` (``YYYY-MM-DD HH:mm:ss``, or full ISO-8601 with an offset) are UTC
  instants, ``from`` inclusive and ``to`` exclusive;
- ``X_without_tz_from`` / ``X_without_tz_to`` (``YYYY-MM-DD HH:mm:ss``) are wall-clock times
  in the order's time zone, ``from`` inclusive and ``to`` exclusive; the
  ``created_at_without_tz_from/to`` pair takes dates instead, and both days are included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, create_model

from routekeeper.core.query_filters import (
    JsonObjectQuery,
    ListFilters,
    QueryDate,
    QueryFilters,
    QueryInstant,
    TrackingFilters,
    checked,
    metadata_filter,
)
from routekeeper.core.timefmt import parse_wall_time
from routekeeper.orders.schemas import SortDirection, TrackMode

STATUS_FILTER_VALUES = frozenset({
    "completed", "cancelled", "rescheduled", "disabled", "ongoing", "unplanned", "assigned",
    "planned", "dispatched",
})
PLAN_MODE_VALUES = frozenset({"on_demand", "scheduled", "manual", "pool"})
MAX_ATTEMPT = 1_000_000

# Filter name stem -> order column holding the instant.
TIME_FIELDS: dict[str, str] = {
    "created_at": "created_at",
    "planned_at": "planned_at",
    "scheduled_at": "scheduled_at",
    "cancelled_at": "cancelled_at",
    "completed_at": "completed_at",
    "rescheduled_marked_at": "rescheduled_marked_at",
    "route_started_at": "started_at",
}
LOCAL_TIME_FIELDS = ("scheduled_at", "completed_at", "created_at")

DATE_FILTERS = [f"{stem}_date" for stem in TIME_FIELDS] + [
    f"{stem}_date_without_tz" for stem in LOCAL_TIME_FIELDS
]
INSTANT_FILTERS = [f"{stem}_{edge}" for stem in TIME_FIELDS for edge in ("from", "to")]
WALL_DATE_FILTERS = ["created_at_without_tz_from", "created_at_without_tz_to"]
WALL_TIME_FILTERS = [
    f"{stem}_without_tz_{edge}" for stem in LOCAL_TIME_FIELDS if stem != "created_at"
    for edge in ("from", "to")
]
WINDOW_FILTERS = INSTANT_FILTERS + WALL_DATE_FILTERS + WALL_TIME_FILTERS


class OrderFilterFields(TrackingFilters, ListFilters, QueryFilters):
    """The fixed part of the order filters; the time filters are generated below."""

    STATUS_VALUES = STATUS_FILTER_VALUES
    PLAN_MODE_VALUES = PLAN_MODE_VALUES

    route_handle: str | None = None
    place_handle: str | None = None
    order_metadata_filter: JsonObjectQuery = None
    track_mode: TrackMode | None = None
    fulfillment_attempt: int | None = Field(default=None, ge=0, le=MAX_ATTEMPT)
    risk_status: bool | None = None
    aggregate: bool | None = None
    sort_direction: SortDirection = SortDirection.DESC

    def wall(self, name: str) -> datetime | None:
        """A wall-clock window filter as a naive datetime."""
        value = self.text(name)
        return None if value is None else parse_wall_time(value)

    @property
    def metadata_filter(self) -> dict[str, Any]:
        """The order metadata filter as an object."""
        return metadata_filter(self.order_metadata_filter)


QueryWallTime = Annotated[str | None, AfterValidator(checked(parse_wall_time))]

_time_fields: dict[str, Any] = {
    **{name: (QueryDate, None) for name in DATE_FILTERS + WALL_DATE_FILTERS},
    **{name: (QueryInstant, None) for name in INSTANT_FILTERS},
    **{name: (QueryWallTime, None) for name in WALL_TIME_FILTERS},
}

OrderFilters = create_model("OrderFilters", __base__=OrderFilterFields, **_time_fields)
OrderFilters.__doc__ = "Every filter of GET /orders/."
