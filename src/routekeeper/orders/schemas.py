"""Wire shapes of orders (contract sections 2.1 to 2.4, 3.2, 3.3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from routekeeper.core.fields import Handle, JsonObject, Text
from routekeeper.core.geojson import PointGeometry, PolygonGeometry
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.order_tasks.schemas import TasksList
from routekeeper.orders.attachments import MAX_ATTACHMENTS, AttachmentIn

DEFAULT_POINT_RADIUS_M = 100
DEFAULT_ADDRESS_RADIUS_M = 30
WINDOW_ERROR = "scheduled_after must not be later than scheduled_at."


def _geometry_kind(value: Any) -> str | None:
    # The contract's Point schema defaults ``type`` to Point, so a bare
    # ``{"coordinates": [...]}`` is a Point.
    if isinstance(value, dict):
        return str(value.get("type", "Point"))
    return getattr(value, "type", None)


Geometry = Annotated[
    Annotated[PointGeometry, Tag("Point")] | Annotated[PolygonGeometry, Tag("Polygon")],
    Discriminator(
        _geometry_kind,
        custom_error_type="invalid_geometry",
        custom_error_message="Must be a GeoJSON Point or Polygon.",
    ),
]


OrderType = StrEnum("OrderType", "PICK DROP")


Priority = StrEnum("Priority", "LOW MEDIUM HIGH")


PlanMode = StrEnum("PlanMode", "MANUAL SCHEDULED ON_DEMAND")


TrackMode = StrEnum("TrackMode", "ON_TIME FLEX PRE_SHIFT ON_SHIFT FULL_SHIFT")


MatrixStrategy = StrEnum("MatrixStrategy", "OSRM_FULL ALS_FULL HYBRID_SPARSE")


SortDirection = StrEnum("SortDirection", "ASC DESC")


def check_window(
    scheduled_after: datetime | None, info: ValidationInfo
) -> datetime | None:
    """``scheduled_after`` may not follow ``scheduled_at`` (declared before it)."""
    scheduled_at = info.data.get("scheduled_at")
    if scheduled_after is not None and scheduled_at is not None and scheduled_after > scheduled_at:
        raise ValueError(WINDOW_ERROR)
    return scheduled_after


ProductTypes = list[Annotated[Text, Field(min_length=1, max_length=100)]]
# The cost of a minute late is in the ops group objective's units (a second of working time,
# or a metre): capped so that the planner's integer arithmetic stays exact.
MAX_LATENESS_COST_PER_MINUTE = 1000


class TimeWindowIn(BaseModel):
    """One of several windows an order may be served in (an extension field)."""

    model_config = ConfigDict(extra="forbid")

    after: ApiDatetime
    before: ApiDatetime


def check_time_windows(
    windows: list[TimeWindowIn] | None, info: ValidationInfo
) -> list[TimeWindowIn] | None:
    """Windows are sorted, disjoint, and lie within ``scheduled_after``..``scheduled_at``."""
    if not windows:
        return windows
    previous = None
    for window in windows:
        if window.after > window.before:
            raise ValueError("Each time window's after must not be later than its before.")
        if previous is not None and window.after <= previous.before:
            raise ValueError("Time windows must be sorted and must not overlap.")
        previous = window
    first_after = info.data.get("scheduled_after")
    last_at = info.data.get("scheduled_at")
    if (first_after is not None and windows[0].after < first_after) or (
        last_at is not None and windows[-1].before > last_at
    ):
        raise ValueError("Time windows must lie within scheduled_after and scheduled_at.")
    return windows


def stored_windows(windows: list[TimeWindowIn] | None) -> list[dict[str, str]] | None:
    """Windows as stored and returned (ISO UTC), None for the single-window case."""
    if not windows:
        return None
    return [window.model_dump(mode="json") for window in windows]


# Fields that mean the same wherever an order (or a place, for its service time) takes them.
ServiceTime = Annotated[int, Field(ge=0, le=7 * 24 * 3600)]  # seconds at the destination
CapacityUsed = Annotated[int, Field(ge=0, le=1_000_000)]
TimeWindows = Annotated[list[TimeWindowIn], Field(max_length=24)]
LatenessCost = Annotated[int, Field(ge=0, le=MAX_LATENESS_COST_PER_MINUTE)]


class AddressComponents(BaseModel):
    """Structured parts of an address: the geocoder searches by them when given."""

    model_config = ConfigDict(extra="ignore")

    street: Text | None = Field(default=None, max_length=300)
    city: Text | None = Field(default=None, max_length=200)
    state: Text | None = Field(default=None, max_length=200)
    country: Text | None = Field(default=None, max_length=200)
    postal_code: Text | None = Field(default=None, max_length=40)


class DestinationIn(BaseModel):
    """A destination: a Point with a radius, a Polygon, a place or geofence, or an address."""

    # HyperTrack clients send fields we do not model (place_id, ...): accept, ignore.
    model_config = ConfigDict(extra="ignore")

    geometry: Geometry | None = None
    radius: int | None = Field(default=None, ge=1, le=100_000)
    address: Text | None = Field(default=None, max_length=1000)
    address_components: AddressComponents | None = None
    place_handle: Text | None = Field(default=None, max_length=200)
    geofence_id: Text | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _needs_a_location(self) -> DestinationIn:
        if self.address_only and not (self.address and self.address.strip()):
            raise ValueError("Send geometry, a place_handle, a geofence_id or an address.")
        if isinstance(self.geometry, PolygonGeometry) and self.radius is not None:
            raise ValueError("radius applies to Point destinations only.")
        return self

    @property
    def address_only(self) -> bool:
        """Whether the location has to come from geocoding the address."""
        return self.geometry is None and not (self.place_handle or self.geofence_id)

    def stored(self) -> dict[str, Any]:
        """The destination as stored and returned, with the radius default applied."""
        assert self.geometry is not None
        data: dict[str, Any] = {"geometry": self.geometry.model_dump(mode="json")}
        if isinstance(self.geometry, PointGeometry):
            data["radius"] = self.radius or DEFAULT_POINT_RADIUS_M
        data["address"] = self.address
        if self.place_handle:
            data["place_handle"] = self.place_handle
        return data


class OrderIn(BaseModel):
    """One order of ``POST /orders/`` (``OrderRequest``)."""

    model_config = ConfigDict(extra="ignore")

    order_handle: Handle
    destination: DestinationIn
    scheduled_at: ApiDatetime
    scheduled_after: ApiDatetime | None = None
    expected_service_time: ServiceTime | None = None
    metadata: JsonObject | None = None
    product_type: ProductTypes | None = None
    type: OrderType = OrderType.DROP
    type_index: int = Field(default=0, ge=0, le=10_000)
    priority: Priority | None = None
    capacity_used: CapacityUsed = 1
    time_windows: TimeWindows | None = None
    lateness_cost_per_minute: LatenessCost | None = None
    # The order's tasks: a task definition's and/or listed ones (order_tasks/lists.py).
    tasks_list: TasksList | None = None

    _window = field_validator("scheduled_after")(check_window)
    _windows = field_validator("time_windows")(check_time_windows)


class OrdersCreate(BaseModel):
    """Body of ``POST /orders/`` (``BatchOrdersRequest``)."""

    model_config = ConfigDict(extra="ignore")

    orders: list[OrderIn] = Field(min_length=1, max_length=1000)
    plan_mode: PlanMode
    ops_group_handle: Handle | None = None
    worker_handle: Handle | None = None
    driver_handle: Handle | None = None
    enable_sync_planning: bool = False
    route_solver_matrix_strategy: MatrixStrategy = MatrixStrategy.OSRM_FULL
    # Extension: scheduled planning that re-plans the rest of the day, routes being driven
    # included (as ``replan`` of the plan trigger; docs/compatibility.md).
    replan: str | None = Field(default=None, pattern="^(keep_with_worker|allow_moves|free)$")
    max_moves_per_route: int | None = Field(default=None, ge=0, le=10_000)

    @property
    def worker(self) -> str | None:
        return self.worker_handle or self.driver_handle


class OrderUpdate(BaseModel):
    """Body of ``PATCH /orders/{order_handle}``; ``null`` clears the optional fields."""

    model_config = ConfigDict(extra="ignore")

    metadata: JsonObject | None = None
    destination: DestinationIn | None = None
    scheduled_at: ApiDatetime | None = None
    scheduled_after: ApiDatetime | None = None
    expected_service_time: ServiceTime | None = None
    product_type: ProductTypes | None = None
    capacity_used: CapacityUsed | None = None
    priority: Priority | None = None
    ops_group_handle: Handle | None = None
    time_windows: TimeWindows | None = None
    lateness_cost_per_minute: LatenessCost | None = None
    # Appended to the order's attachments (never replaced; null or [] adds nothing).
    attachments: list[AttachmentIn] | None = Field(default=None, max_length=MAX_ATTACHMENTS)

    _window = field_validator("scheduled_after")(check_window)
    _windows = field_validator("time_windows")(check_time_windows)


class OrderActionBody(BaseModel):
    """Body of complete/cancel/disable/enable: empty, or metadata to merge."""

    model_config = ConfigDict(extra="ignore")

    metadata: JsonObject | None = None


class Reschedule(BaseModel):
    """Body of ``POST /orders/{order_handle}/reschedule``."""

    model_config = ConfigDict(extra="ignore")

    scheduled_at: ApiDatetime
    scheduled_after: ApiDatetime | None = None

    _window = field_validator("scheduled_after")(check_window)


class EventLocation(BaseModel):
    """Where a custom event happened."""

    geometry: PointGeometry
    accuracy: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class CustomEvent(BaseModel):
    """One custom timeline event."""

    model_config = ConfigDict(extra="ignore")

    type: Text = Field(min_length=1, max_length=64)
    recorded_at: ApiDatetime
    metadata: JsonObject | None = None
    location: EventLocation | None = None
    address: Text | None = Field(default=None, max_length=1000)
    # Not in HyperTrack's schema: a client marks events from a device with mock locations,
    # which GET /orders/{h} leaves out unless allow_mocked_events (orders/timeline.py).
    is_mocked: bool | None = None
    device_id: Text | None = Field(default=None, min_length=1, max_length=200)
    attachments: list[AttachmentIn] | None = Field(default=None, min_length=1,
                                                   max_length=MAX_ATTACHMENTS)


class CustomEvents(BaseModel):
    """Body of ``POST /orders/{order_handle}/events``."""

    events: list[CustomEvent] = Field(min_length=1, max_length=100)


class OrderRead(BaseModel):
    """An order in list, route and track responses (``Order``)."""

    model_config = ConfigDict(extra="allow")

    order_handle: str
    fulfillment_attempt: int
    status: str
    type: str
    type_index: int
    destination: dict[str, Any]
    place_handle: str | None = None
    region: dict[str, Any] | None = None
    ops_group_handle: str | None = None
    plan_mode: str | None = None
    plan_id: str | None = None
    route_handle: str | None = None
    planning_failure_reason: str | None = None
    track_mode: str | None = None
    device_switch_mode: str | None = None
    worker_handle: str | None = None
    driver_handle: str | None = None
    driver_name: str | None = None
    worker_profile: dict[str, Any] | None = None
    device_id: str | None = None
    scheduled_after: ApiDatetime | None = None
    scheduled_at: ApiDatetime | None = None
    expected_service_time: int | None = None
    actual_service_time: int | None = None
    tracked_service_time: int | None = None
    capacity_used: int | None = None
    product_type: list[str] = Field(default_factory=list)
    priority: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    risk_status: bool = False
    risks: dict[str, Any] | None = None
    estimate: dict[str, Any] | None = None
    distance: int | None = None
    duration: int | None = None
    tracking_rate: float | None = None
    time_to_first_event: float | None = None
    time_to_first_location: float | None = None
    share_url: str | None = None
    embed_url: str | None = None
    timezone: str | None = None
    created_at: ApiDatetime
    planned_at: ApiDatetime | None = None
    assigned_at: ApiDatetime | None = None
    started_at: ApiDatetime | None = None
    arrived_at: ApiDatetime | None = None
    exited_at: ApiDatetime | None = None
    completed_at: ApiDatetime | None = None
    cancelled_at: ApiDatetime | None = None
    disabled_at: ApiDatetime | None = None
    enabled_at: ApiDatetime | None = None
    rescheduled_marked_at: ApiDatetime | None = None
    cancellation_source: dict[str, Any] | None = None
    created_by: dict[str, Any] | None = None
    outage_summary: list[dict[str, Any]] | None = None
    tasks: list[dict[str, Any]] | None = None
    time_windows: list[dict[str, str]] | None = None
    lateness_cost_per_minute: int | None = None


class TimelineEvent(BaseModel):
    """One timeline entry."""

    model_config = ConfigDict(extra="allow")

    type: str
    recorded_at: ApiDatetime


class OrderDetail(OrderRead):
    """An order with its timeline (``GetOrderTimelineResponse``)."""

    polyline: dict[str, Any] | None = None
    start_location: dict[str, Any] | None = None
    end_location: dict[str, Any] | None = None
    visited_destination: bool | None = None
    completed_at_destination: bool | None = None
    cancelled_at_destination: bool | None = None
    deviation_from_destination: int | None = None
    service_started_at: ApiDatetime | None = None
    service_ended_at: ApiDatetime | None = None
    parking: list[dict[str, Any]] | None = None
    checkin: list[dict[str, Any]] | None = None
    service_area: list[dict[str, Any]] | None = None
    previous_fulfillments: list[dict[str, Any]] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    order_score: float | None = None
    worker_name: str | None = None
    billing_details: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    timesheets: list[dict[str, Any]] | None = None
    agent: dict[str, Any] | None = None
    candidate_devices: list[str] | None = None
    device_sessions: list[dict[str, Any]] | None = None
    timeline: list[TimelineEvent] = Field(default_factory=list)


class OrderList(BaseModel):
    """``{"orders": [...]}`` as returned by ``POST /orders/`` in manual mode."""

    orders: list[OrderRead]


class OrderPage(BaseModel):
    """``GET /orders/`` response (``GetOrdersResponse``)."""

    orders: list[OrderRead]
    pagination_token: str | None = None
    aggregate: dict[str, Any] | None = None
