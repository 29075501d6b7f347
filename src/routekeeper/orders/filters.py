"""The filters of ``GET /orders/`` (also the body of ``POST /orders/export``).

Date semantics (recorded in docs/compatibility.md):
- ``X_date`` (``YYYY-MM-DD``) is the calendar day in UTC;
- ``X_date_without_tz`` is the calendar day on the wall clock of the order's own time zone;
- ``X_from`` / ``X_to`` (``YYYY-MM-DD HH:mm:ss``) are UTC instants, ``from`` inclusive and
  ``to`` exclusive; ``X_without_tz_from/to`` are wall-clock times in the order's time zone.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from routekeeper.core.timefmt import parse_query_date, parse_query_time
from routekeeper.orders.schemas import SortDirection, TrackMode

STATUS_FILTER_VALUES = frozenset({
    "completed", "cancelled", "rescheduled", "disabled", "ongoing", "unplanned", "assigned",
    "planned", "dispatched",
})
PLAN_MODE_VALUES = frozenset({"on_demand", "scheduled", "manual", "pool"})

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
WINDOW_FILTERS = [f"{stem}_{edge}" for stem in TIME_FIELDS for edge in ("from", "to")] + [
    f"{stem}_without_tz_{edge}" for stem in LOCAL_TIME_FIELDS for edge in ("from", "to")
]


class OrderFilterFields(BaseModel):
    """The fixed part of the order filters; the time filters are generated below."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    worker_handle: str | None = None
    driver_handle: str | None = None
    ops_group_handle: str | None = None
    route_handle: str | None = None
    plan_id: str | None = None
    place_handle: str | None = None
    device_id: str | None = None
    search_term: str | None = Field(default=None, max_length=200)
    order_metadata_filter: str | None = None
    plan_mode: str | None = None
    track_mode: TrackMode | None = None
    fulfillment_attempt: int | None = Field(default=None, ge=0)
    risk_status: bool | None = None
    sort_direction: SortDirection = SortDirection.DESC
    limit: int = Field(default=50, ge=1, le=1000)
    pagination_token: str | None = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [p for p in parts if p not in STATUS_FILTER_VALUES]
        if unknown or not parts:
            allowed = ", ".join(sorted(STATUS_FILTER_VALUES))
            raise ValueError(f"Unknown status {', '.join(unknown) or value!r}; use: {allowed}.")
        return ",".join(parts)

    @field_validator("plan_mode")
    @classmethod
    def _plan_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in PLAN_MODE_VALUES:
            raise ValueError(f"Must be one of: {', '.join(sorted(PLAN_MODE_VALUES))}.")
        return value

    @field_validator("order_metadata_filter")
    @classmethod
    def _metadata_filter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError("Must be a JSON object, URL-encoded.") from exc
        if not isinstance(parsed, dict) or not parsed:
            raise ValueError("Must be a non-empty JSON object.")
        for item in parsed.values():
            if isinstance(item, (dict, list)) or item is None:
                raise ValueError("Values must be strings, numbers or booleans.")
        return value

    @model_validator(mode="before")
    @classmethod
    def _check_times(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        errors = []
        for name in DATE_FILTERS:
            if data.get(name) is not None:
                try:
                    parse_query_date(str(data[name]))
                except ValueError as exc:
                    errors.append(f"{name}: {exc}")
        for name in WINDOW_FILTERS:
            if data.get(name) is not None:
                try:
                    if name.startswith("created_at_without_tz"):
                        parse_query_date(str(data[name]))
                    else:
                        parse_query_time(str(data[name]))
                except ValueError as exc:
                    errors.append(f"{name}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return data

    # Typed accessors, since the time filters are generated fields.
    def text(self, name: str) -> str | None:
        value = getattr(self, name, None)
        return None if value is None else str(value)

    def day(self, name: str) -> date | None:
        value = self.text(name)
        return None if value is None else parse_query_date(value)

    def instant(self, name: str) -> datetime | None:
        value = self.text(name)
        return None if value is None else parse_query_time(value)

    @property
    def statuses(self) -> list[str]:
        return self.status.split(",") if self.status else []

    @property
    def worker(self) -> str | None:
        return self.worker_handle or self.driver_handle

    @property
    def metadata_filter(self) -> dict[str, Any]:
        return dict(json.loads(self.order_metadata_filter)) if self.order_metadata_filter else {}

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"limit", "pagination_token"}
        )


_time_fields: dict[str, Any] = {name: (str | None, None) for name in DATE_FILTERS + WINDOW_FILTERS}

OrderFilters = create_model(  # type: ignore[call-overload]
    "OrderFilters", __base__=OrderFilterFields, **_time_fields
)
OrderFilters.__doc__ = "Every filter of GET /orders/."
