"""Wire shapes of devices, location uploads and their results.

Positions are not range-checked by the schema: an impossible coordinate is a *rejected fix*
with a reason in the answer (``fixes.validate_fix``), not a 422 for the whole batch. Only a
malformed item (no ``recorded_at``, text for a number) fails the request.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from routekeeper.core.fields import Handle, JsonObject, Text
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.tracking.engine.fixes import Fix


class DeviceCreate(BaseModel):
    """Body of ``POST /devices/``."""

    model_config = ConfigDict(extra="ignore")

    device_id: Handle
    worker_handle: Handle
    name: Text | None = Field(default=None, max_length=200)
    metadata: JsonObject | None = None


class DeviceUpdate(BaseModel):
    """Body of ``PATCH /devices/{device_id}``: only the fields sent change."""

    model_config = ConfigDict(extra="ignore")

    worker_handle: Handle | None = None
    name: Text | None = Field(default=None, max_length=200)
    metadata: JsonObject | None = None


class PointOut(BaseModel):
    """A GeoJSON Point ``[lon, lat]``."""

    type: Literal["Point"] = "Point"
    coordinates: list[float]


class LastLocation(BaseModel):
    """A device's newest position."""

    geometry: PointOut
    accuracy: float | None = None
    speed: float | None = Field(default=None, description="m/s")
    bearing: float | None = None
    altitude: float | None = None
    battery: float | None = Field(default=None, description="percent")
    recorded_at: ApiDatetime
    received_at: ApiDatetime | None = None


class DeviceRead(BaseModel):
    """A device; the ingest key itself is only ever shown by create and rotate-key."""

    device_id: str
    worker_handle: str
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    key_prefix: str = Field(description="The start of the ingest key, to tell keys apart.")
    key_rotated_at: ApiDatetime
    created_at: ApiDatetime
    updated_at: ApiDatetime
    last_location: LastLocation | None = None


class DeviceWithKey(DeviceRead):
    """A device with its new ingest key (answer of create and rotate-key; shown once)."""

    ingest_key: str


class DevicePage(BaseModel):
    """``GET /devices/``: one page, oldest device id first."""

    devices: list[DeviceRead]
    pagination_token: str | None = None


class PointIn(BaseModel):
    """A GeoJSON Point as a device sends it; ranges are judged per fix, not here."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Point"] = "Point"
    coordinates: list[float] = Field(min_length=2, max_length=3)


# The upload endpoint reads well-formed items by hand (``locations_body.fast_fixes``) and
# these models only the others: a change here is a change there
# (``tests/tracking/test_locations_body.py`` compares the two).
class LocationIn(BaseModel):
    """One position: ``recorded_at`` and ``geometry`` are required, the rest optional (SI)."""

    model_config = ConfigDict(extra="ignore")

    recorded_at: ApiDatetime
    geometry: PointIn
    accuracy: float | None = Field(default=None, description="metres")
    speed: float | None = Field(default=None, description="metres per second")
    bearing: float | None = Field(default=None, description="degrees from north")
    altitude: float | None = Field(default=None, description="metres")
    battery: float | None = Field(default=None, description="percent, 0-100")

    def to_fix(self) -> Fix:
        """The position as a pipeline fix (altitude from the third coordinate if not given)."""
        coords = self.geometry.coordinates
        altitude = self.altitude
        if altitude is None and len(coords) == 3:
            altitude = coords[2]
        return Fix(
            recorded_at=self.recorded_at, lon=coords[0], lat=coords[1],
            accuracy_m=self.accuracy, speed_mps=self.speed, bearing_deg=self.bearing,
            altitude_m=altitude, battery_percent=self.battery,
        )


class LocationsIn(BaseModel):
    """Body of ``POST /devices/{device_id}/locations`` (at most ``tracking.max_batch`` items)."""

    model_config = ConfigDict(extra="ignore")

    locations: list[LocationIn] = Field(min_length=1)


class Rejection(BaseModel):
    """A refused position: its index in the request and why."""

    index: int
    reason: str


class IngestResult(BaseModel):
    """What became of an upload: accepted (duplicates included) and rejected positions."""

    accepted: int = Field(description="Positions accepted, duplicates included.")
    duplicates: int = Field(description="Accepted positions that were already stored.")
    rejected: int
    rejections: list[Rejection] = Field(default_factory=list)
    route_handles: list[str] = Field(
        default_factory=list, description="Tracking routes the positions were applied to."
    )
