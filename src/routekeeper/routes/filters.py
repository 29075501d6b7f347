"""The filters of ``GET /orders/routes/`` (contract section 2.6).

``X_date`` is a UTC calendar day; ``X_from``/``X_to`` are UTC instants
(``YYYY-MM-DD HH:mm:ss`` or full ISO-8601), ``from`` inclusive, ``to`` exclusive. Every bad
value is a 422 naming its own query parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator

from routekeeper.core.timefmt import parse_query_date, parse_query_time
from routekeeper.orders.fields import check_json, check_text
from routekeeper.orders.schemas import SortDirection, TrackMode
from routekeeper.routes.schemas import DeviceSwitchMode

ROUTE_STATUSES = frozenset({"planned", "assigned", "tracking", "completed"})
PLAN_MODES = frozenset({"on_demand", "scheduled", "manual"})
REGION_KEYS = frozenset({"city", "state", "country"})
DATE_STEMS = ("completed_at", "created_at", "planned_at", "start_by", "started_at")
WINDOW_STEMS = (*DATE_STEMS, "scheduled_start_at")
DATE_FILTERS = [f"{stem}_date" for stem in DATE_STEMS]
WINDOW_FILTERS = [f"{stem}_{edge}" for stem in WINDOW_STEMS for edge in ("from", "to")]


def _checked(parse: Callable[[str], Any]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        """Refuse a value ``parse`` cannot read (the ValueError names the field)."""
        if value is not None:
            parse(check_text(value))
        return value

    return check


QueryDate = Annotated[str | None, AfterValidator(_checked(parse_query_date))]
QueryInstant = Annotated[str | None, AfterValidator(_checked(parse_query_time))]


def _json_object(value: str, *, scalars_only: bool) -> dict[str, Any]:
    """Parse a URL-encoded JSON object filter (non-empty, storable, optionally flat)."""
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValueError("Must be a JSON object, URL-encoded.") from exc
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError("Must be a non-empty JSON object.")
    if scalars_only and any(isinstance(v, (dict, list)) or v is None for v in parsed.values()):
        raise ValueError("Values must be strings, numbers or booleans.")
    check_json(parsed)
    return parsed


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
    device_switch_mode: DeviceSwitchMode | None = None
    search_term: str | None = Field(default=None, max_length=200)
    region_filter: str | None = None
    route_metadata_filter: str | None = None
    device_metadata_filter: str | None = None
    sort_direction: SortDirection = SortDirection.DESC
    limit: int = Field(default=50, ge=1, le=1000)
    pagination_token: str | None = Field(default=None, max_length=2000)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # A NUL in a bound parameter is a database error on PostgreSQL, not an empty match.
        return check_text(value) if isinstance(value, str) else value

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [p for p in parts if p not in ROUTE_STATUSES]
        if unknown or not parts:
            allowed = ", ".join(sorted(ROUTE_STATUSES))
            raise ValueError(f"Unknown status {', '.join(unknown) or value!r}; use: {allowed}.")
        return ",".join(parts)

    @field_validator("plan_mode")
    @classmethod
    def _plan_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in PLAN_MODES:
            raise ValueError(f"Must be one of: {', '.join(sorted(PLAN_MODES))}.")
        return value

    @field_validator("route_metadata_filter", "device_metadata_filter")
    @classmethod
    def _metadata(cls, value: str | None) -> str | None:
        if value is not None:
            _json_object(value, scalars_only=True)
        return value

    @field_validator("region_filter")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = _json_object(value, scalars_only=True)
        if set(parsed) - REGION_KEYS or not all(isinstance(v, str) for v in parsed.values()):
            raise ValueError("Keys must be city, state or country, with string values.")
        return value

    def day(self, name: str) -> date | None:
        """A ``YYYY-MM-DD`` filter as a date."""
        value = getattr(self, name, None)
        return None if value is None else parse_query_date(str(value))

    def instant(self, name: str) -> datetime | None:
        """A window filter as an aware UTC datetime."""
        value = getattr(self, name, None)
        return None if value is None else parse_query_time(str(value))

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

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(mode="json", exclude_none=True,
                               exclude={"limit", "pagination_token"})


RouteFilters = create_model(  # type: ignore[call-overload]
    "RouteFilters", __base__=RouteFilterFields,
    **{name: (QueryDate, None) for name in DATE_FILTERS},
    **{name: (QueryInstant, None) for name in WINDOW_FILTERS},
)
RouteFilters.__doc__ = "Every filter of GET /orders/routes/."
