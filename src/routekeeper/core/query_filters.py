"""Validation shared by the query-string filter models of the list endpoints.

Every check raises ValueError, so pydantic turns a bad value into a 422 that names its own
query parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Set
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from routekeeper.core import geohash
from routekeeper.core.errors import invalid_field
from routekeeper.core.fields import check_json, check_text
from routekeeper.core.timefmt import parse_query_date, parse_query_time

MAX_PAGE = 1000
OUTAGE_CATEGORIES = frozenset({"behavioural", "adversarial", "reachability", "os", "sporadic"})
TRACKING_STATUSES = frozenset({"tracked", "untracked"})
DEVICE_SWITCH_MODES = frozenset({"manual", "login", "closest_to_destination"})


def _at_most_a_page(value: int) -> int:
    # HyperTrack documents no maximum: a larger limit is answered with a full page of
    # MAX_PAGE and a pagination_token for the rest, never with an error.
    return min(value, MAX_PAGE)


PageLimit = Annotated[int, Field(ge=1), AfterValidator(_at_most_a_page)]
# The ``limit`` of the lists that take plain query parameters (devices, webhook endpoints,
# deliveries and history, workers, ops groups): more than a page is refused with a 422.
QueryLimit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def checked(parse: Callable[[str], Any]) -> Callable[[str | None], str | None]:
    """A validator that refuses a value ``parse`` cannot read but keeps the raw text."""

    def check(value: str | None) -> str | None:
        if value is not None:
            parse(check_text(value))
        return value

    return check


QueryDate = Annotated[str | None, AfterValidator(checked(parse_query_date))]
QueryInstant = Annotated[str | None, AfterValidator(checked(parse_query_time))]


_T = TypeVar("_T")


def query_param(name: str, value: str | None, parse: Callable[[str], _T]) -> _T | None:
    """A plain query parameter read by ``parse``: None when absent, and a value it refuses
    is a 422 naming the parameter (for endpoints without a filter model)."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise invalid_field("query", name, str(exc)) from exc


def status_list(value: str | None, allowed: Set[str]) -> str | None:
    """A comma-separated status filter, normalised to ``a,b`` (blank items dropped)."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in allowed]
    if unknown or not parts:
        choices = ", ".join(sorted(allowed))
        raise ValueError(f"Unknown status {', '.join(unknown) or value!r}; use: {choices}.")
    return ",".join(parts)


def one_of(value: str | None, allowed: Set[str]) -> str | None:
    """Refuse a value outside ``allowed``."""
    if value is not None and value not in allowed:
        raise ValueError(f"Must be one of: {', '.join(sorted(allowed))}.")
    return value


def category_list(value: str | None) -> str | None:
    """A comma-separated ``filter_outage_category``, normalised to ``a,b``."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in OUTAGE_CATEGORIES]
    if unknown or not parts:
        raise ValueError(f"Must be one of: {', '.join(sorted(OUTAGE_CATEGORIES))}.")
    return ",".join(parts)


def geohash_filter(value: str | None) -> str | None:
    """A ``destination_geohash``: a geohash cell, kept lower-case."""
    if value is None:
        return None
    geohash.decode(value)
    return value.strip().lower()


def json_object_filter(value: str) -> dict[str, Any]:
    """Parse a URL-encoded JSON object filter: non-empty, flat and storable."""
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValueError("Must be a JSON object, URL-encoded.") from exc
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError("Must be a non-empty JSON object.")
    # json_match compares scalars: its SQLite form cannot match a nested value or null.
    if any(isinstance(v, (dict, list)) or v is None for v in parsed.values()):
        raise ValueError("Values must be strings, numbers or booleans.")
    check_json(parsed)
    return parsed


# A JSON object filter (metadata, worker profile): checked, and kept as the raw text.
JsonObjectQuery = Annotated[str | None, AfterValidator(checked(json_object_filter))]


class TrackingFilters(BaseModel):
    """The filters orders and routes share beyond their own columns (issue 15): the worker's
    profile, the destination's geohash cell, tracking state, outages and the device rule."""

    worker_profile_filter: JsonObjectQuery = None
    destination_geohash: str | None = None
    device_switch_mode: str | None = None
    tracking_status: str | None = None
    filter_outage_category: str | None = None
    worker_inside_destination: bool | None = None
    send_outage: bool | None = None

    @field_validator("destination_geohash")
    @classmethod
    def _geohash(cls, value: str | None) -> str | None:
        return geohash_filter(value)

    @field_validator("device_switch_mode")
    @classmethod
    def _switch(cls, value: str | None) -> str | None:
        return one_of(value, DEVICE_SWITCH_MODES)

    @field_validator("tracking_status")
    @classmethod
    def _tracking(cls, value: str | None) -> str | None:
        return one_of(value, TRACKING_STATUSES)

    @field_validator("filter_outage_category")
    @classmethod
    def _outages(cls, value: str | None) -> str | None:
        return category_list(value)

    @property
    def profile_filter(self) -> dict[str, Any]:
        """``worker_profile_filter`` as an object."""
        return dict(json.loads(self.worker_profile_filter)) if self.worker_profile_filter \
            else {}

    @property
    def outage_categories(self) -> list[str]:
        """``filter_outage_category`` as a list."""
        return self.filter_outage_category.split(",") if self.filter_outage_category else []


REGION_KEYS = frozenset({"city", "state", "country"})


def region_filter(value: str | None) -> str | None:
    """Check a ``region_filter``: a JSON object of ``city``/``state``/``country`` strings."""
    if value is None:
        return None
    parsed = json_object_filter(value)
    if set(parsed) - REGION_KEYS or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError("Keys must be city, state or country, with string values.")
    return value


class QueryFilters(BaseModel):
    """Base of a paginated list endpoint's filters: unknown parameters refused, text storable.

    Subclasses declare ``limit`` and ``pagination_token``.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # A NUL in a bound parameter is a database error on PostgreSQL, not an empty match.
        return check_text(value) if isinstance(value, str) else value

    # Typed accessors, since the time filters are generated fields.
    def text(self, name: str) -> str | None:
        """The raw value of a filter, or None when absent."""
        value = getattr(self, name, None)
        return None if value is None else str(value)

    def day(self, name: str) -> date | None:
        """A ``YYYY-MM-DD`` filter as a date."""
        value = self.text(name)
        return None if value is None else parse_query_date(value)

    def instant(self, name: str) -> datetime | None:
        """A UTC window filter as an aware datetime."""
        value = self.text(name)
        return None if value is None else parse_query_time(value)

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"limit", "pagination_token"}
        )


class ListFilters(BaseModel):
    """The filters the order and route listings share: who, which group, plan and device,
    a status list, free text, a region, and the page; each listing names its own status
    and plan mode values."""

    STATUS_VALUES: ClassVar[frozenset[str]] = frozenset()
    PLAN_MODE_VALUES: ClassVar[frozenset[str]] = frozenset({"on_demand", "scheduled", "manual"})

    status: str | None = None
    worker_handle: str | None = None
    driver_handle: str | None = None
    ops_group_handle: str | None = None
    plan_id: str | None = None
    device_id: str | None = None
    plan_mode: str | None = None
    search_term: str | None = Field(default=None, max_length=200)
    region_filter: str | None = None
    limit: PageLimit = 50
    pagination_token: str | None = Field(default=None, max_length=2000)

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        return status_list(value, cls.STATUS_VALUES)

    @field_validator("plan_mode")
    @classmethod
    def _plan_mode(cls, value: str | None) -> str | None:
        return one_of(value, cls.PLAN_MODE_VALUES)

    @field_validator("region_filter")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return region_filter(value)

    @property
    def statuses(self) -> list[str]:
        """The status filter as a list."""
        return self.status.split(",") if self.status else []

    @property
    def worker(self) -> str | None:
        """The worker filter (``driver_handle`` is its deprecated name)."""
        return self.worker_handle or self.driver_handle

    @property
    def region(self) -> dict[str, str]:
        """The region filter as an object."""
        return dict(json.loads(self.region_filter)) if self.region_filter else {}


def metadata_filter(value: str | None) -> dict[str, Any]:
    """A validated JSON object filter as an object (empty when not sent)."""
    return dict(json.loads(value)) if value else {}
