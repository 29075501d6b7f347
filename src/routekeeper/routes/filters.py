"""The filters of ``GET /orders/routes/`` (contract section 2.6).

``X_date`` is a UTC calendar day; ``X_from``/``X_to`` are UTC instants
(``YYYY-MM-DD HH:mm:ss``), ``from`` inclusive, ``to`` exclusive.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from routekeeper.core.timefmt import parse_query_date, parse_query_time
from routekeeper.orders.schemas import SortDirection, TrackMode

ROUTE_STATUSES = frozenset({"planned", "assigned", "tracking", "completed"})
PLAN_MODES = frozenset({"on_demand", "scheduled", "manual"})
DATE_STEMS = ("completed_at", "created_at", "planned_at", "start_by", "started_at")
WINDOW_STEMS = (*DATE_STEMS, "scheduled_start_at")
DATE_FILTERS = [f"{stem}_date" for stem in DATE_STEMS]
WINDOW_FILTERS = [f"{stem}_{edge}" for stem in WINDOW_STEMS for edge in ("from", "to")]


class RouteFilterFields(BaseModel):
    """The fixed part of the route filters; the time filters are generated below."""

    model_config = ConfigDict(extra="forbid")

    worker_handle: str | None = None
    driver_handle: str | None = None
    ops_group_handle: str | None = None
    plan_mode: str | None = None
    plan_id: str | None = None
    device_id: str | None = None
    status: str | None = None
    track_mode: TrackMode | None = None
    search_term: str | None = Field(default=None, max_length=200)
    route_metadata_filter: str | None = None
    sort_direction: SortDirection = SortDirection.DESC
    limit: int = Field(default=50, ge=1, le=1000)
    pagination_token: str | None = None

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [p for p in parts if p not in ROUTE_STATUSES]
        if unknown or not parts:
            raise ValueError(f"Unknown status; use: {', '.join(sorted(ROUTE_STATUSES))}.")
        return ",".join(parts)

    @field_validator("plan_mode")
    @classmethod
    def _plan_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in PLAN_MODES:
            raise ValueError(f"Must be one of: {', '.join(sorted(PLAN_MODES))}.")
        return value

    @field_validator("route_metadata_filter")
    @classmethod
    def _metadata(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError("Must be a JSON object, URL-encoded.") from exc
        if not isinstance(parsed, dict) or not parsed or any(
            isinstance(v, (dict, list)) or v is None for v in parsed.values()
        ):
            raise ValueError("Must be a non-empty JSON object of scalar values.")
        return value

    @model_validator(mode="before")
    @classmethod
    def _times(cls, data: Any) -> Any:
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
                    parse_query_time(str(data[name]))
                except ValueError as exc:
                    errors.append(f"{name}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return data

    def day(self, name: str) -> date | None:
        value = getattr(self, name, None)
        return None if value is None else parse_query_date(str(value))

    def instant(self, name: str) -> datetime | None:
        value = getattr(self, name, None)
        return None if value is None else parse_query_time(str(value))

    @property
    def statuses(self) -> list[str]:
        return self.status.split(",") if self.status else []

    @property
    def ops_groups(self) -> list[str]:
        return [g.strip() for g in (self.ops_group_handle or "").split(",") if g.strip()]

    @property
    def worker(self) -> str | None:
        return self.worker_handle or self.driver_handle

    @property
    def metadata_filter(self) -> dict[str, Any]:
        return dict(json.loads(self.route_metadata_filter)) if self.route_metadata_filter else {}

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(mode="json", exclude_none=True,
                               exclude={"limit", "pagination_token"})


RouteFilters = create_model(  # type: ignore[call-overload]
    "RouteFilters", __base__=RouteFilterFields,
    **{name: (str | None, None) for name in DATE_FILTERS + WINDOW_FILTERS},
)
RouteFilters.__doc__ = "Every filter of GET /orders/routes/."
