"""Wire shapes of orders (contract sections 2.1 to 2.4, 3.2, 3.3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routekeeper.core.geojson import PointGeometry, PolygonGeometry
from routekeeper.core.timefmt import ApiDatetime

Geometry = Annotated[PointGeometry | PolygonGeometry, Field(discriminator="type")]

DEFAULT_POINT_RADIUS_M = 100
DEFAULT_ADDRESS_RADIUS_M = 30


class OrderType(StrEnum):
    PICK = "pick"
    DROP = "drop"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PlanMode(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    ON_DEMAND = "on_demand"


class TrackMode(StrEnum):
    ON_TIME = "on_time"
    FLEX = "flex"
    PRE_SHIFT = "pre_shift"
    ON_SHIFT = "on_shift"
    FULL_SHIFT = "full_shift"


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


class DestinationIn(BaseModel):
    """A destination: a Point with a radius, a Polygon, or a place/geofence reference."""

    # HyperTrack clients send fields we do not model (place_id, ...): accept, ignore.
    model_config = ConfigDict(extra="ignore")

    geometry: Geometry | None = None
    radius: int | None = Field(default=None, ge=1, le=100_000)
    address: str | None = Field(default=None, max_length=1000)
    place_handle: str | None = None
    geofence_id: str | None = None

    @model_validator(mode="after")
    def _needs_geometry(self) -> DestinationIn:
        if self.geometry is None:
            if self.place_handle or self.geofence_id:
                raise ValueError(
                    "Places and geofences are not stored by this server; send geometry."
                )
            raise ValueError(
                "geometry is required (address-only destinations need a geocoder, "
                "which is not configured)."
            )
        if isinstance(self.geometry, PolygonGeometry) and self.radius is not None:
            raise ValueError("radius applies to Point destinations only.")
        return self

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

    order_handle: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s?#]+$")
    destination: DestinationIn
    scheduled_at: ApiDatetime
    scheduled_after: ApiDatetime | None = None
    expected_service_time: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    metadata: dict[str, Any] | None = None
    product_type: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    type: OrderType = OrderType.DROP
    type_index: int = Field(default=0, ge=0, le=10_000)
    priority: Priority | None = None
    capacity_used: int = Field(default=1, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _window(self) -> OrderIn:
        if self.scheduled_after is not None and self.scheduled_after > self.scheduled_at:
            raise ValueError("scheduled_after must not be later than scheduled_at.")
        return self


class OrdersCreate(BaseModel):
    """Body of ``POST /orders/`` (``BatchOrdersRequest``)."""

    model_config = ConfigDict(extra="ignore")

    orders: list[OrderIn] = Field(min_length=1, max_length=1000)
    plan_mode: PlanMode
    ops_group_handle: str | None = Field(default=None, min_length=1)
    worker_handle: str | None = Field(default=None, min_length=1)
    driver_handle: str | None = Field(default=None, min_length=1)
    enable_sync_planning: bool = False
    route_solver_matrix_strategy: str | None = None

    @property
    def worker(self) -> str | None:
        return self.worker_handle or self.driver_handle


class OrderUpdate(BaseModel):
    """Body of ``PATCH /orders/{order_handle}``."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any] | None = None
    destination: DestinationIn | None = None
    scheduled_at: ApiDatetime | None = None
    scheduled_after: ApiDatetime | None = None
    expected_service_time: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    product_type: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    capacity_used: int | None = Field(default=None, ge=0, le=1_000_000)
    priority: Priority | None = None
    ops_group_handle: str | None = Field(default=None, min_length=1)


class OrderActionBody(BaseModel):
    """Body of complete/cancel/disable/enable: empty, or metadata to merge."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any] | None = None


class Reschedule(BaseModel):
    """Body of ``POST /orders/{order_handle}/reschedule``."""

    model_config = ConfigDict(extra="ignore")

    scheduled_at: ApiDatetime
    scheduled_after: ApiDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> Reschedule:
        if self.scheduled_after is not None and self.scheduled_after > self.scheduled_at:
            raise ValueError("scheduled_after must not be later than scheduled_at.")
        return self


class EventLocation(BaseModel):
    """Where a custom event happened."""

    geometry: PointGeometry
    accuracy: float | None = Field(default=None, ge=0)


class CustomEvent(BaseModel):
    """One custom timeline event."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1, max_length=64)
    recorded_at: ApiDatetime
    metadata: dict[str, Any] | None = None
    location: EventLocation | None = None
    address: str | None = None


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
    device_id: str | None = None
    scheduled_after: ApiDatetime | None = None
    scheduled_at: ApiDatetime | None = None
    expected_service_time: int | None = None
    actual_service_time: int | None = None
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
    previous_fulfillments: list[dict[str, Any]] = Field(default_factory=list)
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)


class OrderList(BaseModel):
    """``{"orders": [...]}`` as returned by ``POST /orders/`` in manual mode."""

    orders: list[OrderRead]


class OrderPage(BaseModel):
    """``GET /orders/`` response."""

    orders: list[OrderRead]
    pagination_token: str | None = None
