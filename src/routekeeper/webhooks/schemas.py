"""Wire shapes of webhook endpoints, deliveries, replays and the order webhook history."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routekeeper.core.timefmt import ApiDatetime
from routekeeper.webhooks.catalog import check_event_type
from routekeeper.webhooks.safety import parse_target


def _check_url(value: str) -> str:
    parse_target(value)  # ValueError -> 422 naming the field
    return value


def _check_event_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("Omit event_types (or send null) to receive every event.")
    for entry in value:
        problem = check_event_type(entry)
        if problem:
            raise ValueError(problem)
    return sorted(set(value))


class EndpointCreate(BaseModel):
    """Body of ``POST /webhooks/endpoints``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, examples=["https://example.com/hypertrack"])
    event_types: list[str] | None = Field(
        default=None, max_length=100, examples=[["order.completed", "route"]],
        description="Event types (``order``) or values (``order.completed``); null = all.",
    )
    enabled: bool = True
    description: str | None = Field(default=None, max_length=500)

    _url = field_validator("url")(_check_url)
    _types = field_validator("event_types")(_check_event_types)


class EndpointUpdate(BaseModel):
    """Body of ``PATCH /webhooks/endpoints/{id}``: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    event_types: list[str] | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("url cannot be null.")
        return _check_url(value)

    _types = field_validator("event_types")(_check_event_types)

    @field_validator("enabled")
    @classmethod
    def _enabled(cls, value: bool | None) -> bool | None:
        if value is None:
            raise ValueError("enabled cannot be null.")
        return value


class EndpointRead(BaseModel):
    """A webhook endpoint (its secret is only shown at creation and rotation)."""

    id: str
    url: str
    event_types: list[str] | None
    enabled: bool
    description: str | None
    created_at: ApiDatetime
    updated_at: ApiDatetime
    failing_since: ApiDatetime | None
    disabled_at: ApiDatetime | None
    disabled_reason: str | None
    disabled_notification: str | None
    previous_secret_expires_at: ApiDatetime | None


class EndpointWithSecret(EndpointRead):
    """An endpoint with its signing secret, returned by create and rotate-secret."""

    secret: str = Field(description="Standard Webhooks secret, ``whsec_<base64>``.")


class EndpointPage(BaseModel):
    """A page of endpoints."""

    endpoints: list[EndpointRead]
    pagination_token: str | None


DeliveryStatus = StrEnum("DeliveryStatus", "PENDING DELIVERED REJECTED FAILED CANCELLED")


class DeliveryRead(BaseModel):
    """One event's delivery to one endpoint: its attempts and outcome."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str = Field(description="``<type>.<value>``, e.g. ``order.completed``.")
    status: DeliveryStatus
    replay: bool
    webhook_id: str | None
    attempts: int
    retry_count: int
    last_http_status: int | None
    last_response_text: str | None
    last_error: str | None
    created_at: ApiDatetime
    first_attempt_at: ApiDatetime | None
    last_attempt_at: ApiDatetime | None
    next_attempt_at: ApiDatetime | None
    completed_at: ApiDatetime | None


class DeliveryPage(BaseModel):
    """A page of deliveries, newest first."""

    deliveries: list[DeliveryRead]
    pagination_token: str | None


class ReplayRequest(BaseModel):
    """Body of ``POST /webhooks/endpoints/{id}/replay``: one event, or every event since."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(default=None, max_length=36)
    since: ApiDatetime | None = None
    until: ApiDatetime | None = None
    only_failed: bool = Field(
        default=False,
        description="Skip events this endpoint already acknowledged with a 2xx.",
    )

    @model_validator(mode="after")
    def _one_selector(self) -> ReplayRequest:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("Send either event_id or since.")
        if self.until is not None and (self.since is None or self.until <= self.since):
            raise ValueError("until needs since, and must be later than it.")
        return self


class ReplayResult(BaseModel):
    """What a replay queued."""

    replayed: int
    skipped: int = Field(description="Events already queued, or delivered with only_failed.")
    delivery_ids: list[str]


class OrderWebhook(BaseModel):
    """An ``OrderWebhookEvent`` as sent, with the outcome of its delivery (contract 2.4)."""

    # The envelope is returned exactly as it was sent, including fields not modelled here.
    model_config = ConfigDict(extra="allow")

    id: str
    account_id: str
    type: str
    version: str
    created_at: str
    recorded_at: str
    device_id: str | None = None
    worker_handle: str | None = None
    driver_handle: str | None = None
    location: dict[str, Any] | None = None
    data: dict[str, Any]
    delivery_http_status: int | None
    retry_count: int
    delivery_http_response_text: str | None
    delivery_id: str
    delivery_status: DeliveryStatus
    endpoint_id: str
    webhook_id: str | None
    delivered_at: ApiDatetime | None = None


class OrderWebhookPage(BaseModel):
    """Body of ``GET /orders/{order_handle}/webhooks``."""

    webhooks: list[OrderWebhook]
    pagination_token: str | None
