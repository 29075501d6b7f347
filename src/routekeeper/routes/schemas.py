"""Wire shapes of routes, track requests and estimates (contract 2.3, 2.6, 2.7, 3.4, 3.5)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routekeeper.core.fields import Handle, JsonObject, Text
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.orders.schemas import OrderIn, OrderRead, OrderType, TrackMode

# Which of a worker's devices tracks the orders (contract 2.3).
DeviceSwitchMode = StrEnum("DeviceSwitchMode", "MANUAL LOGIN CLOSEST_TO_DESTINATION")


class OrderRef(BaseModel):
    """``OrderHandleInput``: which order (and which pick/drop row) a route operation means."""

    model_config = ConfigDict(extra="ignore")

    order_handle: Text = Field(min_length=1, max_length=200)
    type: OrderType | None = None
    type_index: int | None = Field(default=None, ge=0)


def _refs_alias(data: Any) -> Any:
    # HyperTrack's own examples send "order_handles" (open question 11): accept both.
    if isinstance(data, dict) and "orders" not in data and "order_handles" in data:
        handles = data["order_handles"]
        if isinstance(handles, list):
            data = {**data, "orders": [
                {"order_handle": h} if isinstance(h, str) else h for h in handles
            ]}
    return data


class RouteCreate(BaseModel):
    """Body of ``POST /orders/routes/``."""

    model_config = ConfigDict(extra="ignore")

    orders: list[OrderRef] = Field(min_length=1, max_length=1000)
    track_mode: TrackMode | None = None
    ops_group_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    optimise: bool = False
    worker_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    driver_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    route_handle: Handle | None = None
    metadata: JsonObject | None = None

    _alias = model_validator(mode="before")(_refs_alias)

    @property
    def worker(self) -> str | None:
        """The worker named (``driver_handle`` is its deprecated name)."""
        return self.worker_handle or self.driver_handle


class RouteOrders(BaseModel):
    """Body of add / remove / resequence."""

    model_config = ConfigDict(extra="ignore")

    orders: list[OrderRef] = Field(min_length=1, max_length=1000)
    resequence: bool = False

    _alias = model_validator(mode="before")(_refs_alias)


class RouteUpdate(BaseModel):
    """Body of ``PATCH /orders/routes/{route_handle}``."""

    model_config = ConfigDict(extra="ignore")

    metadata: JsonObject | None = None
    scheduled_start_at: ApiDatetime | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_string(cls, value: Any) -> Any:
        # HyperTrack's example sends metadata as a JSON string (open question 11).
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError("metadata must be an object or a JSON object string.") from exc
        return value


class RouteReassign(BaseModel):
    """Body of ``POST /orders/routes/{route_handle}/reassign``."""

    model_config = ConfigDict(extra="ignore")

    worker_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    driver_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    device_id: Text | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> RouteReassign:
        if not (self.worker_handle or self.driver_handle or self.device_id):
            raise ValueError("worker_handle or device_id is required.")
        return self


class RouteSpec(BaseModel):
    """The ``route`` object of a track request: handle and metadata of the new route."""

    model_config = ConfigDict(extra="ignore")

    route_handle: Handle | None = None
    metadata: JsonObject | None = None


class TrackOrderIn(OrderIn):
    """``TrackOrder``: like an order request, but ``scheduled_at`` is optional."""

    scheduled_at: ApiDatetime | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _track_window(self) -> TrackOrderIn:
        if (self.scheduled_after is not None and self.scheduled_at is not None
                and self.scheduled_after > self.scheduled_at):
            raise ValueError("scheduled_after must not be later than scheduled_at.")
        return self


class TrackRequest(BaseModel):
    """Body of ``POST /orders/track``."""

    model_config = ConfigDict(extra="ignore")

    track_mode: TrackMode
    route_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    worker_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    driver_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    device_id: Text | None = Field(default=None, min_length=1, max_length=200)
    ops_group_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    orders: list[TrackOrderIn] | None = Field(default=None, min_length=1, max_length=1000)
    route: RouteSpec | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    device_switch_mode: DeviceSwitchMode = DeviceSwitchMode.LOGIN

    @property
    def worker(self) -> str | None:
        """The worker named (``driver_handle`` is its deprecated name)."""
        return self.worker_handle or self.driver_handle


class OrderReassign(BaseModel):
    """Body of ``POST /orders/{order_handle}/reassign``."""

    model_config = ConfigDict(extra="ignore")

    worker_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    driver_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    ops_group_handle: Text | None = Field(default=None, min_length=1, max_length=200)
    order_type: OrderType | None = None
    type_index: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _worker(self) -> OrderReassign:
        if not (self.worker_handle or self.driver_handle):
            raise ValueError("worker_handle is required.")
        return self

    @property
    def worker(self) -> str:
        """The worker named (``driver_handle`` is its deprecated name)."""
        return str(self.worker_handle or self.driver_handle)


class RouteListOrder(BaseModel):
    """``RouteListOrder``: the reduced order shape of route lists and plans."""

    model_config = ConfigDict(extra="allow")

    order_handle: str
    status: str
    type: str | None = None
    type_index: int | None = None
    fulfillment_attempt: int | None = None
    planning_failure_reason: str | None = None
    started_at: ApiDatetime | None = None
    completed_at: ApiDatetime | None = None
    cancelled_at: ApiDatetime | None = None
    expected_service_time: int | None = None
    estimate: dict[str, Any] | None = None
    actual_service_time: int | None = None
    distance: int | None = None
    duration: int | None = None


class RouteRead(BaseModel):
    """A route (``RouteDetail``; lists use the same keys with reduced orders)."""

    model_config = ConfigDict(extra="allow")

    route_handle: str
    status: str
    version: int
    orders: list[OrderRead | RouteListOrder]
    ops_group_handle: str
    track_mode: str | None = None
    plan_mode: str | None = None
    plan_id: str | None = None
    worker_handle: str | None = None
    driver_handle: str | None = None
    device_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    estimate: dict[str, Any] | None = None
    embed_url: str
    created_at: ApiDatetime
    planned_at: ApiDatetime | None = None
    assigned_at: ApiDatetime | None = None
    started_at: ApiDatetime | None = None
    completed_at: ApiDatetime | None = None
    scheduled_start_at: ApiDatetime | None = None
    # Extension: breaks and reloads planned between the orders.
    breaks: list[dict[str, Any]] = Field(default_factory=list)
    reloads: list[dict[str, Any]] = Field(default_factory=list)


class RoutePage(BaseModel):
    """``GET /orders/routes/`` response."""

    routes: list[RouteRead]
    pagination_token: str | None = None


class EstimateResponse(BaseModel):
    """``GET /orders/estimate`` response."""

    estimate: dict[str, Any]
    orders: list[OrderRead]
