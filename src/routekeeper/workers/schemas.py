"""Wire shapes of workers and ops groups (HyperTrack field names)."""

from __future__ import annotations

import datetime as dt
import math
import re
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from routekeeper.core.fields import check_json_size
from routekeeper.core.geojson import PointGeometry
from routekeeper.core.timefmt import ApiDatetime

# Handles travel in URL paths, so no slash, whitespace, query/fragment marks or control
# characters (PostgreSQL text cannot hold NUL at all).
# Not "." or "..": clients and proxies resolve those path segments away (/workers/.. is
# /), so such a worker could never be addressed. Written without look-ahead so OpenAPI
# clients and pydantic's regex engine read the same pattern.
HANDLE_PATTERN = (r"^(?:[^/\s?#\x00-\x1f\x7f]*[^/\s?#\x00-\x1f\x7f.][^/\s?#\x00-\x1f\x7f]*"
                  r"|\.{3,})$")
HANDLE_MAX = 200
_HANDLE = re.compile(HANDLE_PATTERN)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Integer columns are 32-bit; larger numbers would overflow the database instead of a 422.
INT32_MAX = 2**31 - 1


# A worker's or ops group's handle: 1-200 characters that are safe in a URL path segment.
PathHandle = Annotated[str, Field(min_length=1, max_length=HANDLE_MAX, pattern=HANDLE_PATTERN)]


def is_handle(text: str) -> bool:
    """Whether ``text`` could be a handle (a path segment that fails this names nothing)."""
    return len(text) <= HANDLE_MAX and _HANDLE.match(text) is not None


def handle_list(csv: str | None) -> list[str] | None:
    """A comma-separated list of handles (None when empty: no filter)."""
    # A part that cannot be a handle matches no worker, so it never reaches the database.
    if csv is None or not csv.strip():
        return None
    parts = (part.strip() for part in csv.split(","))
    return [part for part in parts if is_handle(part)]


def check_hhmm(value: str | None) -> str | None:
    """Validate a ``HH:mm`` wall-clock time."""
    if value is not None and not _HHMM.match(value):
        raise ValueError("Not a valid time; expected HH:mm (00:00 to 23:59).")
    return value


# Files of the system's tz directory that are no IANA zone: "localtime" is whatever the host
# is set to, so a plan's times would change with the machine it runs on.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def check_timezone(value: str | None) -> str | None:
    """Validate an IANA time zone name against the bundled tz database."""
    # A set lookup instead of ZoneInfo(value): file names such as "America" (a directory)
    # or a 300-character key raise OS errors there, not ValueError.
    if value is not None and value not in _zones():
        raise ValueError("Not a valid IANA time zone (e.g. Europe/Berlin).")
    return value


def _check_storable(value: Any) -> None:
    # Free-form JSON (metadata, profile) and text end up in PostgreSQL, which rejects NUL in
    # text and JSONB, and in JSON responses, which cannot carry NaN or infinities.
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Text must not contain NUL characters.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("Numbers must be finite.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    elif isinstance(value, BaseModel):
        _check_storable(value.model_dump())


class _Body(BaseModel):
    """A request body: unknown fields are ignored (HyperTrack payloads carry many we do not
    model, as for orders), and every value must be storable."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        _check_storable(value)
        if isinstance(value, dict):
            check_json_size(value)  # free-form JSON (metadata, profile): bounded per field
        return value


class Location(_Body):
    """A point with an address (worker ``home``, ops group ``ops_group_home``)."""

    geometry: PointGeometry
    address: str | None = Field(default=None, max_length=1000)
    radius: int | None = Field(default=None, ge=1, le=100_000, description="Meters.")


class DayOfWeek(StrEnum):
    SUNDAY = "SUNDAY"
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class BreakEntry(_Body):
    """A break in a shift (an extension field): ``duration`` seconds, starting no earlier
    than ``after`` and over by ``before`` (HH:mm, the ops group's time zone)."""

    after: str = Field(description="HH:mm in the ops group's time zone.")
    before: str = Field(description="HH:mm in the ops group's time zone.")
    duration: int = Field(ge=1, le=24 * 3600, description="Seconds.")

    _hhmm = field_validator("after", "before")(check_hhmm)


def minutes_as_hhmm(value: Any) -> Any:
    """A time given as minutes after midnight (HyperTrack's examples send ``end_time:
    1080`` for 18:00) as ``HH:mm``. Anything else is left for the ``HH:mm`` check."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 1440:
            raise ValueError("Not a valid time; expected HH:mm or minutes 0 to 1440.")
        # HH:mm has no 24:00: the end of the day is a minute short of it, so that a
        # whole day (0 to 1440) stays a shift whose end differs from its start.
        value = min(value, 1439)
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


class ScheduleEntry(_Body):
    """A shift: recurring on ``day_of_week`` or on one ``date``; an end before the start
    means the shift runs past midnight. Times are ``HH:mm`` or minutes after midnight."""

    day_of_week: DayOfWeek | None = None
    date: dt.date | None = None
    start_time: str = Field(description="HH:mm (or minutes after midnight) in the ops "
                                        "group's time zone.")
    end_time: str = Field(description="HH:mm (or minutes after midnight, e.g. 1080) in the "
                                      "ops group's time zone.")
    ops_group_handle: PathHandle | None = None
    priority: int | None = Field(default=None, ge=-INT32_MAX, le=INT32_MAX)
    breaks: list[BreakEntry] | None = Field(default=None, max_length=10)

    _minutes = field_validator("start_time", "end_time", mode="before")(minutes_as_hhmm)
    _hhmm = field_validator("start_time", "end_time")(check_hhmm)

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleEntry:
        if (self.day_of_week is None) == (self.date is None):
            raise ValueError("A schedule entry has either day_of_week or date.")
        if self.start_time == self.end_time:
            raise ValueError("A shift's end_time must differ from its start_time.")
        start = _minutes(self.start_time)
        length = (_minutes(self.end_time) - start) % 1440
        for rest in self.breaks or []:
            # Minutes from the shift's start, so that a shift past midnight works too.
            after = (_minutes(rest.after) - start) % 1440
            before = (_minutes(rest.before) - start) % 1440
            if before > length or after >= before:
                raise ValueError("A break's after..before must lie within the shift, after first.")
            if rest.duration > (before - after) * 60:
                raise ValueError("A break's duration must fit between its after and before.")
        return self


RouteStartLocation = StrEnum("RouteStartLocation", "DRIVER_HOME OPS_GROUP_HOME LIVE_LOCATION")


RouteCompletionType = StrEnum(
    "RouteCompletionType", "END_AT_LAST_ORDER RETURN_TO_START_LOCATION MANUAL"
)


# Extension: time, with a surcharge on routes longer than the fleet's average.
ObjectiveFn = StrEnum("ObjectiveFn", "MINIMISE_TIME MINIMISE_DISTANCE BALANCE_TIME")


class Reloads(_Body):
    """Extension: workers may go back to the ops group home to reload."""

    max_reloads: int | None = Field(default=None, ge=1, le=100,
                                    description="Per route; null for no limit.")
    service_time: int = Field(default=0, ge=0, le=24 * 3600,
                              description="Seconds each reload takes.")


TrackingAutomationType = StrEnum(
    "TrackingAutomationType", "MANUAL SHIFT ORDER ROUTE ORDER_AND_ROUTE"
)


AutomationMode = StrEnum("AutomationMode", "AUTO AUTO_START AUTO_STOP")


class OrderTrackingAutomation(_Body):
    """``order_tracking_automation``: when tracking starts and stops (contract section 6)."""

    type: TrackingAutomationType = TrackingAutomationType.MANUAL
    mode: AutomationMode | None = None
    lead_time: int | None = Field(default=None, ge=0, le=86399, description="Seconds.")
    lag_time: int | None = Field(default=None, ge=0, le=86399, description="Seconds.")
    # Approval and acceptance settings are kept as sent (no operations use them here).
    approval: dict[str, Any] | None = None
    acceptance: dict[str, Any] | None = None


WorkStatusType = StrEnum("WorkStatusType", "MANUAL TRACKING AVAILABLE")


class WorkStatusAutomation(_Body):
    """One entry of ``work_status_automation``: which part of a worker's work_status the
    server keeps up to date by itself."""

    type: WorkStatusType
    mode: AutomationMode | None = None


class WorkStatus(_Body):
    """A worker's ``work_status`` (also the body of ``POST /workers/{h}/work_status``)."""

    available: bool | None = None
    tracking: bool | None = None


class _OpsGroupFields(_Body):
    # HyperTrack calls the display name ``ops_group_label``; ``name`` is accepted too.
    name: str | None = Field(
        default=None, max_length=200,
        validation_alias=AliasChoices("ops_group_label", "name"),
    )
    timezone: str | None = Field(default=None, description="IANA time zone, default UTC.")
    ops_group_home: Location | None = None
    route_start_location: RouteStartLocation | None = None
    route_completion_type: RouteCompletionType | None = None
    route_capacity: int | None = Field(default=None, ge=1, le=INT32_MAX)
    route_max_distance: int | None = Field(default=None, ge=1, le=INT32_MAX,
                                           description="Meters.")
    objective_fn: ObjectiveFn | None = None
    default_shift_start_time: str | None = None
    default_shift_end_time: str | None = None
    metadata: dict[str, Any] | None = None
    reloads: Reloads | None = None
    operations_radius: int | None = Field(default=None, ge=1, le=INT32_MAX,
                                          description="Meters from ops_group_home.")
    enforce_operations_radius: bool | None = None
    schedule: list[ScheduleEntry] | None = Field(
        default=None, max_length=1000,
        description="Shifts of the group's workers who have no schedule of their own.")
    order_tracking_automation: OrderTrackingAutomation | None = None
    work_status_automation: list[WorkStatusAutomation] | None = Field(default=None,
                                                                      max_length=10)

    _hhmm = field_validator("default_shift_start_time", "default_shift_end_time")(check_hhmm)
    _tz = field_validator("timezone")(check_timezone)


class OpsGroupCreate(_OpsGroupFields):
    """Body of ``POST /workers/ops-groups/``."""

    ops_group_handle: PathHandle = Field(description="Unique per account.")


class OpsGroupUpdate(_OpsGroupFields):
    """Body of ``PATCH /workers/ops-groups/{ops_group_handle}``."""


class OpsGroupRead(BaseModel):
    """An ops group as returned."""

    ops_group_handle: str
    ops_group_label: str | None
    name: str | None
    timezone: str
    ops_group_home: dict[str, Any] | None
    route_start_location: RouteStartLocation
    route_completion_type: RouteCompletionType
    route_capacity: int | None
    route_max_distance: int | None
    objective_fn: ObjectiveFn
    default_shift_start_time: str | None
    default_shift_end_time: str | None
    metadata: dict[str, Any] | None
    reloads: dict[str, Any] | None = None
    operations_radius: int | None = None
    enforce_operations_radius: bool = False
    schedule: list[dict[str, Any]] = Field(default_factory=list)
    order_tracking_automation: dict[str, Any] | None = None
    work_status_automation: list[dict[str, Any]] = Field(default_factory=list)
    created_at: ApiDatetime
    updated_at: ApiDatetime


class OpsGroupPage(BaseModel):
    """A page of ops groups."""

    ops_groups: list[OpsGroupRead]
    pagination_token: str | None = None


class _WorkerFields(_Body):
    name: str | None = Field(default=None, max_length=200)
    profile: dict[str, Any] | None = None
    ops_group_handle: PathHandle | None = None
    product_types: list[str] | None = Field(default=None, max_length=100)
    capacity: int | None = Field(default=None, ge=0, le=INT32_MAX)
    home: Location | None = None
    schedule: list[ScheduleEntry] | None = Field(default=None, max_length=1000)
    unavailable_on: list[dt.date] | None = Field(default=None, max_length=1000)
    available: bool | None = None
    work_status: WorkStatus | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("product_types")
    @classmethod
    def _product_types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not item or len(item) > 200 for item in value):
            raise ValueError("Product types are non-empty strings of at most 200 characters.")
        return value


class WorkerCreate(_WorkerFields):
    """Body of ``POST /workers/``."""

    # ``driver_handle`` is HyperTrack's deprecated name for the same thing.
    worker_handle: PathHandle = Field(
        validation_alias=AliasChoices("worker_handle", "driver_handle"),
        description="Unique per account (an email or user id, for instance).",
    )


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
    work_status: dict[str, bool]
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
