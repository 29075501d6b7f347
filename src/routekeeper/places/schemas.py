"""Wire shapes of the Places API (contract Appendix C)."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routekeeper.core.errors import invalid_field
from routekeeper.core.fields import Handle, JsonObject, Text
from routekeeper.core.geojson import PolygonGeometry
from routekeeper.core.query_filters import JsonObjectQuery
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.orders.schemas import AddressComponents, Geometry, ServiceTime

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
DEFAULT_PLACE_RADIUS_M = 100


PlaceType = StrEnum("PlaceType", "SHOP HOUSE RESTAURANT OFFICE WAREHOUSE"
                     " HOSPITAL MALL UNIVERSITY GOLF_COURSE STADIUM AIRPORT")


class Timing(BaseModel):
    """Opening hours of one weekday, in the place's ops-group time zone (``HH:MM``)."""

    model_config = ConfigDict(extra="ignore")

    day_of_week: str
    start_time: str
    end_time: str

    @field_validator("day_of_week")
    @classmethod
    def _day(cls, value: str) -> str:
        day = value.strip().lower()
        if day not in DAYS:
            raise ValueError(f"Must be one of: {', '.join(DAYS)}.")
        return day

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("Must be a time of day as HH:MM (24-hour clock).")
        return value[:5]

    @model_validator(mode="after")
    def _ordered(self) -> Timing:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be later than start_time.")
        return self


def _closed_on(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    days: list[str] = []
    for value in values:
        try:
            days.append(date.fromisoformat(value[:10]).isoformat())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD).") from exc
    return sorted(set(days))


class PlaceFields(BaseModel):
    """What a client may send about a place (create and update)."""

    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, max_length=500)
    geometry: Geometry | None = None
    radius: int | None = Field(default=None, ge=1, le=100_000)
    address: Text | None = Field(default=None, max_length=1000)
    address_components: AddressComponents | None = None
    place_type: PlaceType | None = None
    timings: list[Timing] | None = Field(default=None, max_length=100)
    closed_on: list[str] | None = Field(default=None, max_length=1000)
    expected_service_time: ServiceTime | None = None
    metadata: JsonObject | None = None
    parkings: list[JsonObject] | None = Field(default=None, max_length=100)
    checkins: list[JsonObject] | None = Field(default=None, max_length=100)
    visit_detection_config: JsonObject | None = None

    @field_validator("closed_on")
    @classmethod
    def _dates(cls, value: list[str] | None) -> list[str] | None:
        return _closed_on(value)

    @model_validator(mode="after")
    def _radius_on_points(self) -> PlaceFields:
        if isinstance(self.geometry, PolygonGeometry) and self.radius is not None:
            raise ValueError("radius applies to Point geometries only.")
        return self


class PlaceCreate(PlaceFields):
    """Body of ``POST /places/v1/``: a geometry, or an address to geocode."""

    place_handle: Handle | None = None

    @model_validator(mode="after")
    def _located(self) -> PlaceCreate:
        if self.geometry is None and not (self.address and self.address.strip()):
            raise ValueError("Send geometry, or an address to geocode.")
        return self


class PlaceUpdate(PlaceFields):
    """Body of ``PATCH /places/v1/{place_handle}``: ``null`` is ignored, ``[]`` clears."""


class PlaceRead(BaseModel):
    """``PlaceResponse``."""

    model_config = ConfigDict(extra="allow")

    place_id: str
    place_handle: str
    name: str | None = None
    geometry: dict[str, Any]
    radius: int | None = None
    address: str | None = None
    address_components: dict[str, Any] | None = None
    region: dict[str, Any] | None = None
    place_type: str | None = None
    timings: list[dict[str, Any]] = Field(default_factory=list)
    closed_on: list[str] = Field(default_factory=list)
    expected_service_time: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    parkings: list[dict[str, Any]] = Field(default_factory=list)
    checkins: list[dict[str, Any]] = Field(default_factory=list)
    visit_detection_config: dict[str, Any] | None = None
    order_count: int = 0
    created_at: ApiDatetime
    last_updated: ApiDatetime
    created_by: dict[str, Any] | None = None
    updated_by: dict[str, Any] | None = None


class PlacePage(BaseModel):
    """``PlacesResponse``."""

    places: list[PlaceRead]
    pagination_token: str | None = None
    aggregate: dict[str, Any] | None = None


class PlaceHistoryEntry(BaseModel):
    """One audited change."""

    audit_id: str
    changed_at: ApiDatetime
    changed_by: dict[str, Any] | None = None
    operation: str
    changes: dict[str, Any]


class PlaceHistoryPage(BaseModel):
    """The history of one place."""

    place_id: str
    place_handle: str
    history: list[PlaceHistoryEntry]
    pagination_token: str | None = None


SortBy = StrEnum("SortBy", "LAST_UPDATED ORDER_COUNT SKEW")


class PlaceFilters(BaseModel):
    """The query of ``GET /places/v1/``."""

    model_config = ConfigDict(extra="forbid")

    place_handles: Text | None = Field(default=None, max_length=20_000)
    search_term: Text | None = Field(default=None, max_length=200)
    name: Text | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    radius: float | None = Field(default=None, gt=0, le=1_000_000, allow_inf_nan=False)
    metadata: JsonObjectQuery = None
    sort_by: SortBy | None = None
    sort_direction: Text = "desc"
    geofence_type: Text | None = None
    aggregate: bool = False
    limit: int = Field(default=50, ge=0, le=100)
    pagination_token: Text | None = Field(default=None, max_length=2000)

    @field_validator("sort_direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        if value not in ("asc", "desc"):
            raise ValueError("Must be one of: asc, desc.")
        return value

    @field_validator("geofence_type")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and value not in ("Point", "Polygon"):
            raise ValueError("Must be one of: Point, Polygon.")
        return value

    @field_validator("sort_by")
    @classmethod
    def _sortable(cls, value: SortBy | None) -> SortBy | None:
        if value is SortBy.SKEW:
            # Skew measures learned geofences against visits, which this server does not learn.
            raise ValueError("sort_by=skew is not supported (no learned geofences here).")
        return value

    def check_around(self) -> None:
        """lat, lon and radius go together: a 422 naming the first one missing."""
        given = {"lat": self.lat, "lon": self.lon, "radius": self.radius}
        if any(v is not None for v in given.values()):
            for name, value in given.items():
                if value is None:
                    raise invalid_field("query", name, "lat, lon and radius go together.")

    @property
    def handles(self) -> list[str]:
        """The place_handles filter as a list."""
        return [h.strip() for h in (self.place_handles or "").split(",") if h.strip()]


class HistoryQuery(BaseModel):
    """The query of ``GET /places/v1/{place_handle}/history``."""

    model_config = ConfigDict(extra="forbid")

    field_name: Text | None = Field(default=None, max_length=100)
    limit: int = Field(default=20, ge=1, le=100)
    pagination_token: str | None = Field(default=None, max_length=2000)
