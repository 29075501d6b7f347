"""Write events into the outbox in the caller's transaction (no event without its change).

The payload is the contract's envelope (section 5.2), complete at write time, so that
delivery, history and replay all send exactly what happened, whenever they run. It also
carries the event's ``id`` (not in HyperTrack's envelope): the key receivers dedupe on.

Recording an event also queues its webhook deliveries in the same transaction
(``dispatch.fan_out``), so record events only through these functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy.orm import Session
from typing_extensions import Unpack

from routekeeper.core.clock import utcnow
from routekeeper.core.ids import new_id
from routekeeper.core.timefmt import format_ts
from routekeeper.models.order import Order
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.webhooks.dispatch import fan_out, kick, new_delivery

EVENT_VERSION = "3.0.0"


class EventContext(TypedDict, total=False):
    """What an event may say besides its kind and data: when it happened, who and where,
    and the order or route it belongs to (for history and filters)."""

    recorded_at: datetime | None
    device_id: str | None
    worker_handle: str | None
    location: dict[str, Any] | None
    order: Order | None
    route_handle: str | None


def record_event(
    session: Session,
    *,
    account_id: str,
    type: str,
    value: str,
    data: dict[str, Any],
    **context: Unpack[EventContext],
) -> OutboxEvent:
    """Add one event to the outbox; it commits or rolls back with the caller's change."""
    event = _new_event(account_id=account_id, type=type, value=value, data=data, **context)
    session.add(event)
    fan_out(session, event)
    return event


def record_test_event(session: Session, endpoint: WebhookEndpoint) -> OutboxEvent:
    """A ``test.ping`` event for one endpoint only (the console's test delivery): it goes
    through the same signing, delivery and history as any event, and nowhere else."""
    event = _new_event(account_id=endpoint.account_id, type="test", value="ping",
                       data={"endpoint_id": endpoint.id,
                             "description": "A test delivery sent from the console."})
    session.add(event)
    session.flush()  # the event's seq, before the delivery points at it
    session.add(new_delivery(endpoint, event, now=event.created_at))
    kick(session, endpoint.account_id, endpoint.id)
    return event


def _new_event(
    *, account_id: str, type: str, value: str, data: dict[str, Any],
    **context: Unpack[EventContext],
) -> OutboxEvent:
    now = utcnow()
    recorded_at = context.get("recorded_at") or now
    worker_handle = context.get("worker_handle")
    order = context.get("order")
    event_id = new_id()
    payload: dict[str, Any] = {
        "id": event_id,
        "account_id": account_id,
        "device_id": context.get("device_id"),
        "worker_handle": worker_handle,
        "driver_handle": worker_handle,
        "type": type,
        "version": EVENT_VERSION,
        "created_at": format_ts(now),
        "recorded_at": format_ts(recorded_at),
        "location": context.get("location"),
        "data": {"value": value, **data},
    }
    return OutboxEvent(
        account_id=account_id, id=event_id, type=type, value=value,
        order_handle=order.order_handle if order else data.get("order_handle"),
        order_id=order.id if order else None,
        route_handle=context.get("route_handle") or data.get("route_handle"),
        recorded_at=recorded_at, created_at=now, payload=payload,
    )


def record_order_event(
    session: Session,
    order: Order,
    value: str,
    *,
    share_url: str | None = None,
    recorded_at: datetime | None = None,
    location: dict[str, Any] | None = None,
    **extra: Any,
) -> OutboxEvent:
    """Add an order event (``data.value`` = ``value``) with the order's state at this moment."""
    data: dict[str, Any] = {
        "order_handle": order.order_handle,
        "fulfillment_attempt": order.fulfillment_attempt,
        "type": order.type,
        "type_index": order.type_index,
        "route_handle": order.route_handle,
        "status": order.status,
        "share_url": share_url,
        "metadata": order.metadata_ or {},
        **extra,
    }
    return record_event(
        session, account_id=order.account_id, type="order", value=value, data=data,
        recorded_at=recorded_at, device_id=order.device_id, worker_handle=order.worker_handle,
        location=location, order=order, route_handle=order.route_handle,
    )
