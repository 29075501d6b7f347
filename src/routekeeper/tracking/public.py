"""The public tracking view of one order (``GET /tracking/{tracking_id}``, contract 2.8).

Anyone with the link sees this one order: its stamps, destination and ETA, and the worker's
live position only while the order is ongoing and the worker has not left its destination.
Nothing about the worker's other orders or their positions outside this order is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from routekeeper.core.errors import HttpError
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.models.device import Device
from routekeeper.models.order import Order
from routekeeper.models.worker import Worker
from routekeeper.settings import Settings
from routekeeper.tracking import clock, repository


class TrackingLocation(BaseModel):
    """One point of the path to the destination."""

    lat: float
    lon: float
    timestamp: str | None = None


class TrackingSummary(BaseModel):
    """The path travelled to this order, once it is known."""

    distance: int
    duration: int
    locations: list[TrackingLocation]


class TrackingEstimate(BaseModel):
    """The live ETA while the worker is on the way."""

    start_by: ApiDatetime | None = None
    distance: int
    duration: int
    polyline: dict[str, Any]
    start_location: dict[str, Any]
    end_location: dict[str, Any]
    arrive_at: str


class TrackingOrder(BaseModel):
    """``TrackingOrder``: this order only."""

    order_handle: str
    route_handle: str | None
    status: str
    scheduled_at: ApiDatetime | None = None
    planned_at: ApiDatetime | None = None
    assigned_at: ApiDatetime | None = None
    started_at: ApiDatetime | None = None
    arrived_at: ApiDatetime | None = None
    exited_at: ApiDatetime | None = None
    completed_at: ApiDatetime | None = None
    cancelled_at: ApiDatetime | None = None
    start_address: str | None = None
    destination: dict[str, Any]
    summary: TrackingSummary | None = None
    estimate: TrackingEstimate | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    timezone: str | None = None


class DriverLocation(BaseModel):
    """Where the worker is."""

    geometry: dict[str, Any]
    bearing: float | None = None
    accuracy: float | None = None
    speed: float | None = None
    recorded_at: ApiDatetime


class TrackingDriver(BaseModel):
    """``TrackingDriver``: who serves the order, and where they are while it is live."""

    driver_handle: str | None
    device_id: str | None
    device_model: str | None
    name: str | None
    location: DriverLocation | None
    status: str


class TrackingInferences(BaseModel):
    """``TrackingInferences``: none are learned by this server; the shape is kept."""

    destination_inferences: dict[str, Any] = Field(
        default_factory=lambda: {"locations": [], "service_area": [], "geofences": []})
    order_inferences: dict[str, Any] = Field(
        default_factory=lambda: {"parking": [], "checkin": []})


class TrackingResponse(BaseModel):
    """``TrackingResponse``."""

    order: TrackingOrder
    driver: TrackingDriver
    inferences: TrackingInferences


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def _summary(order: Order) -> TrackingSummary | None:
    coordinates = (order.polyline or {}).get("coordinates") or []
    if not coordinates:
        return None
    locations = [TrackingLocation(lon=float(c[0]), lat=float(c[1]),
                                  timestamp=c[3] if len(c) > 3 else None) for c in coordinates]
    return TrackingSummary(distance=order.distance or 0, duration=order.duration or 0,
                           locations=locations)


def _live(order: Order) -> bool:
    """Whether the worker's position may be shown: on the way or on site, not yet gone."""
    return order.status == "ongoing" and order.exited_at is None


def _estimate(order: Order, device: Device) -> TrackingEstimate | None:
    estimate = order.estimate or {}
    arrive_at = estimate.get("arrive_at")
    if order.arrived_at is not None or not arrive_at or device.last_lon is None \
            or device.last_lat is None or order.destination_lon is None \
            or order.destination_lat is None:
        return None
    here = _point(device.last_lon, device.last_lat)
    there = _point(order.destination_lon, order.destination_lat)
    return TrackingEstimate(
        start_by=None, distance=int(estimate.get("remaining_distance") or 0),
        duration=int(estimate.get("remaining_duration") or 0),
        polyline={"type": "LineString",
                  "coordinates": [here["coordinates"], there["coordinates"]]},
        start_location=here, end_location=there, arrive_at=str(arrive_at),
    )


def _model(device: Device | None) -> str | None:
    """The device model from the device's metadata, if given."""
    model = (device.metadata_ or {}).get("model") if device else None
    return None if model is None else str(model)


def _fresh(device: Device, now: datetime, settings: Settings) -> bool:
    seen = device.last_recorded_at
    return seen is not None and (now - seen).total_seconds() <= settings.tracking.offline_after_s


def tracking_view(session: Session, tracking_id: str, settings: Settings) -> TrackingResponse:
    """The public view of the order behind a tracking id; 404 for ids that name nothing."""
    order = repository.order_by_tracking_id(session, tracking_id) \
        if 0 < len(tracking_id) <= 64 and tracking_id.isprintable() else None
    if order is None:
        raise HttpError(404, "Tracking not found",
                        {"description": f"No order is tracked under {tracking_id}"})
    worker = (session.get(Worker, (order.account_id, order.worker_handle))
              if order.worker_handle else None)
    device = (repository.latest_worker_device(session, order.account_id, order.worker_handle)
              if order.worker_handle else None)
    live = _live(order) and device is not None
    location = None
    status = "inactive"
    estimate = None
    if live and device is not None and device.last_recorded_at is not None \
            and device.last_lon is not None and device.last_lat is not None:
        location = DriverLocation(
            geometry=_point(device.last_lon, device.last_lat), bearing=device.last_bearing,
            accuracy=device.last_accuracy, speed=device.last_speed,
            recorded_at=device.last_recorded_at)
        status = "active" if _fresh(device, clock.now(), settings) else "disconnected"
        estimate = _estimate(order, device)
    destination = order.destination or {}
    return TrackingResponse(
        order=TrackingOrder(
            order_handle=order.order_handle, route_handle=order.route_handle,
            status=order.status, scheduled_at=order.scheduled_at, planned_at=order.planned_at,
            assigned_at=order.assigned_at, started_at=order.started_at,
            arrived_at=order.arrived_at, exited_at=order.exited_at,
            completed_at=order.completed_at, cancelled_at=order.cancelled_at,
            destination={k: destination.get(k) for k in ("geometry", "radius", "address")},
            summary=_summary(order), estimate=estimate, attachments=order.attachments or [],
            metadata=order.metadata_ or {}, timezone=order.timezone,
        ),
        driver=TrackingDriver(
            driver_handle=order.worker_handle,
            device_id=order.device_id or (device.device_id if device else None),
            device_model=_model(device),
            name=worker.name if worker else None, location=location, status=status,
        ),
        inferences=TrackingInferences(),
    )
