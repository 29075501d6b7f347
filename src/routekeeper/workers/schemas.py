"""Wire shapes of workers and ops groups (HyperTrack field names)."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routekeeper.core.geojson import Place
from routekeeper.core.timefmt import ApiDatetime

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
HANDLE = Field(min_length=1, max_length=200, pattern=r"^[^/\s?#]+$")


def check_hhmm(value: str | None) -> str | None:
    """Validate a ``HH:mm`` wall-clock time."""
    if value is not None and not _HHMM.match(value):
        raise ValueError("Not a valid time; expected HH:mm (00:00 to 23:59).")
    return value


class DayOfWeek(StrEnum):
    SUNDAY = "SUNDAY"
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"


class ScheduleEntry(BaseModel):
    """A shift: recurring on ``day_of_week`` or on one ``date``; an end before the start
    means the shift runs past midnight."""

    model_config = ConfigDict(extra="forbid")

    day_of_week: DayOfWeek | None = None
    date: dt.date | None = None
    start_time: str
    end_time: str
    ops_group_handle: str | None = None
    priority: int | None = None

    _hhmm = field_validator("start_time", "end_time")(check_hhmm)

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleEntry:
        if (self.day_of_week is None) == (self.date is None):
            raise ValueError("A schedule entry has either day_of_week or date.")
        if self.start_time == self.end_time:
            raise ValueError("A shift's end_time must differ from its start_time.")
        return self


class RouteStartLocation(StrEnum):
    DRIVER_HOME = "driver_home"
    OPS_GROUP_HOME = "ops_group_home"
    LIVE_LOCATION = "live_location"


class RouteCompletionType(StrEnum):
    END_AT_LAST_ORDER = "end_at_last_order"
    RETURN_TO_START_LOCATION = "return_to_start_location"
    MANUAL = "manual"


class ObjectiveFn(StrEnum):
    MINIMISE_TIME = "minimise_time"
    MINIMISE_DISTANCE = "minimise_distance"


class _OpsGroupFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    timezone: str | None = None
    ops_group_home: Place | None = None
    route_start_location: RouteStartLocation | None = None
    route_completion_type: RouteCompletionType | None = None
    route_capacity: int | None = Field(default=None, ge=1)
    route_max_distance: int | None = Field(default=None, ge=1)
    objective_fn: ObjectiveFn | None = None
    default_shift_start_time: str | None = None
    default_shift_end_time: str | None = None
    metadata: dict[str, Any] | None = None

    _hhmm = field_validator("default_shift_start_time", "default_shift_end_time")(check_hhmm)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("Not a valid IANA time zone (e.g. Europe/Berlin).") from exc
        return value


class OpsGroupCreate(_OpsGroupFields):
    """Body of ``POST /workers/ops-groups/``."""

    ops_group_handle: str = HANDLE


class OpsGroupUpdate(_OpsGroupFields):
    """Body of ``PATCH /workers/ops-groups/{ops_group_handle}``."""


class OpsGroupRead(BaseModel):
    """An ops group as returned."""

    ops_group_handle: str
    name: str | None
    timezone: str
    ops_group_home: dict[str, Any] | None
    route_start_location: str
    route_completion_type: str
    route_capacity: int | None
    route_max_distance: int | None
    objective_fn: str
    default_shift_start_time: str | None
    default_shift_end_time: str | None
    metadata: dict[str, Any] | None
    created_at: ApiDatetime
    updated_at: ApiDatetime


class OpsGroupPage(BaseModel):
    """A page of ops groups."""

    ops_groups: list[OpsGroupRead]
    pagination_token: str | None = None


class _WorkerFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    profile: dict[str, Any] | None = None
    ops_group_handle: str | None = None
    product_types: list[str] | None = None
    capacity: int | None = Field(default=None, ge=0)
    home: Place | None = None
    schedule: list[ScheduleEntry] | None = None
    unavailable_on: list[dt.date] | None = None
    available: bool | None = None
    metadata: dict[str, Any] | None = None


class WorkerCreate(_WorkerFields):
    """Body of ``POST /workers/``."""

    worker_handle: str = HANDLE


class WorkerUpdate(_WorkerFields):
    """Body of ``PATCH /workers/{worker_handle}``."""


class WorkerRead(BaseModel):
    """A worker as returned."""

    worker_handle: str
    name: str | None
    profile: dict[str, Any]
    ops_group_handle: str
    product_types: list[str]
    capacity: int | None
    home: dict[str, Any] | None
    schedule: list[dict[str, Any]]
    unavailable_on: list[str]
    available: bool
    device_ids: list[str]
    metadata: dict[str, Any] | None
    created_at: ApiDatetime
    updated_at: ApiDatetime


class WorkerPage(BaseModel):
    """A page of workers."""

    workers: list[WorkerRead]
    pagination_token: str | None = None


def jsonable_schedule(entries: list[ScheduleEntry]) -> list[dict[str, Any]]:
    """Schedule entries as stored (dates as ISO strings, no nulls)."""
    return [entry.model_dump(mode="json", exclude_none=True) for entry in entries]

