"""Webhook rules: endpoints (target safety, secrets, rotation), delivery listings, replay and
the order webhook history. Nothing here commits: the request's session does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import conflict, invalid_field, not_found
from routekeeper.core.ids import new_id
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.core.timefmt import parse_ts
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.webhook_delivery import WebhookDelivery
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.orders import service as orders
from routekeeper.settings import WebhookSettings
from routekeeper.webhooks import dispatch, outbox, repository
from routekeeper.webhooks.safety import UnsafeTarget, checked_addresses, parse_target
from routekeeper.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    DeliveryStatus,
    EndpointCreate,
    EndpointPage,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    OrderWebhook,
    OrderWebhookPage,
    ReplayRequest,
    ReplayResult,
)
from routekeeper.webhooks.signing import new_secret

# A larger replay is refused with a hint to split it with ``until``.
MAX_REPLAY_EVENTS = 10_000


def _check_target(url: str, settings: WebhookSettings) -> None:
    """Refuse (422) a URL whose host is, or resolves to, a non-public address."""
    if settings.allow_private_targets:
        return
    try:
        checked_addresses(parse_target(url), allow_private=False)
    except (UnsafeTarget, ValueError) as exc:
        raise invalid_field("json", "url", str(exc)) from exc


def endpoint_read(endpoint: WebhookEndpoint) -> EndpointRead:
    """The wire shape of an endpoint, without its secret."""
    return EndpointRead.model_validate(endpoint, from_attributes=True)


def _with_secret(endpoint: WebhookEndpoint) -> EndpointWithSecret:
    return EndpointWithSecret.model_validate(endpoint, from_attributes=True)


def get_endpoint(
    session: Session, account_id: str, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint:
    """One of the account's endpoints; anyone else's (or a deleted one) is a 404."""
    endpoint = repository.get_endpoint(session, account_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise not_found("Webhook endpoint", endpoint_id)
    return endpoint


def create_endpoint(
    session: Session, account_id: str, body: EndpointCreate, settings: WebhookSettings
) -> EndpointWithSecret:
    """Create an endpoint with a fresh signing secret (shown in this answer only)."""
    _check_target(body.url, settings)
    now = utcnow()
    endpoint = WebhookEndpoint(
        account_id=account_id, id=new_id(), url=body.url, description=body.description,
        event_types=body.event_types, enabled=body.enabled, secret=new_secret(),
        created_at=now, updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    dispatch.forget_endpoints(session)
    return _with_secret(endpoint)


def _page_key(
    secret: SigningKeys, token: str | None, filters: dict[str, Any]
) -> tuple[datetime, str]:
    assert token is not None
    key = decode_token(secret, token, filters)
    try:
        return parse_ts(key[0]), str(key[1])
    except (ValueError, IndexError) as exc:
        raise invalid_field("query", "pagination_token", "Not a valid pagination token.") from exc


def _next_token(secret: SigningKeys, at: datetime, tie: str, filters: dict[str, Any]) -> str:
    return encode_token(secret, [at.isoformat(), tie], filters)


def list_endpoints(
    session: Session, account_id: str, *, limit: int, token: str | None, secret: SigningKeys
) -> EndpointPage:
    """A page of the account's endpoints, oldest first."""
    filters = {"what": "webhook_endpoints"}
    after = _page_key(secret, token, filters) if token else None
    rows = repository.list_endpoints(session, account_id, after=after, limit=limit + 1)
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = _next_token(secret, rows[-1].created_at, rows[-1].id, filters)
    return EndpointPage(endpoints=[endpoint_read(r) for r in rows], pagination_token=next_token)


def _disable_by_user(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = "Disabled through the API."
    endpoint.disabled_notification = None
    repository.cancel_pending(
        session, endpoint.account_id, endpoint.id, status="cancelled",
        reason="The endpoint was disabled through the API.", now=now,
    )


def _enable(endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = True
    endpoint.disabled_at = endpoint.disabled_reason = endpoint.disabled_notification = None
    endpoint.failing_since = None


def update_endpoint(
    session: Session, account_id: str, endpoint_id: str, body: EndpointUpdate,
    settings: WebhookSettings,
) -> EndpointRead:
    """Change an endpoint; disabling cancels its pending deliveries (replay brings them back)."""
    endpoint = get_endpoint(session, account_id, endpoint_id, lock=True)
    fields = body.model_fields_set
    now = utcnow()
    if "url" in fields and body.url is not None:
        _check_target(body.url, settings)
        endpoint.url = body.url
    if "event_types" in fields:
        endpoint.event_types = body.event_types
    if "description" in fields:
        endpoint.description = body.description
    if "enabled" in fields and body.enabled is not None and body.enabled != endpoint.enabled:
        if body.enabled:
            _enable(endpoint)
        else:
            _disable_by_user(session, endpoint, now)
    endpoint.updated_at = now
    session.flush()
    dispatch.forget_endpoints(session)
    return endpoint_read(endpoint)


def delete_endpoint(session: Session, account_id: str, endpoint_id: str) -> None:
    """Delete an endpoint: nothing more is sent to it; its delivery history stays."""
    endpoint = get_endpoint(session, account_id, endpoint_id, lock=True)
    now = utcnow()
    endpoint.enabled = False
    endpoint.deleted_at = endpoint.updated_at = now
    repository.cancel_pending(session, account_id, endpoint_id, status="cancelled",
                              reason="The endpoint was deleted.", now=now)


def rotate_secret(
    session: Session, account_id: str, endpoint_id: str, settings: WebhookSettings
) -> EndpointWithSecret:
    """Issue a new secret; the current one keeps signing alongside it during the overlap."""
    endpoint = get_endpoint(session, account_id, endpoint_id, lock=True)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(
        seconds=settings.secret_rotation_overlap_s
    )
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    session.flush()
    return _with_secret(endpoint)


def send_test_event(session: Session, account_id: str, endpoint_id: str) -> str:
    """Queue a ``test.ping`` delivery to one endpoint; the event's id."""
    endpoint = get_endpoint(session, account_id, endpoint_id)
    return outbox.record_test_event(session, endpoint).id


def delivery_read(delivery: WebhookDelivery, event: OutboxEvent) -> DeliveryRead:
    """The wire shape of a delivery."""
    return DeliveryRead(
        id=delivery.id, endpoint_id=delivery.endpoint_id, event_id=delivery.event_id,
        event_type=f"{event.type}.{event.value}", status=DeliveryStatus(delivery.status),
        replay=delivery.replay, webhook_id=delivery.webhook_id, attempts=delivery.attempts,
        retry_count=max(delivery.attempts - 1, 0), last_http_status=delivery.last_http_status,
        last_response_text=delivery.last_response_text, last_error=delivery.last_error,
        created_at=delivery.created_at, first_attempt_at=delivery.first_attempt_at,
        last_attempt_at=delivery.last_attempt_at, next_attempt_at=delivery.next_attempt_at,
        completed_at=delivery.completed_at,
    )


def list_deliveries(
    session: Session,
    account_id: str,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None,
    event_id: str | None,
    limit: int,
    token: str | None,
    secret: SigningKeys,
) -> DeliveryPage:
    """A page of an endpoint's deliveries, newest first."""
    get_endpoint(session, account_id, endpoint_id)
    filters = {"endpoint": endpoint_id, "status": status, "event_id": event_id}
    after = _page_key(secret, token, filters) if token else None
    rows = repository.list_deliveries(
        session, account_id, endpoint_id, status=status.value if status else None,
        event_id=event_id, after=after, limit=limit + 1,
    )
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = _next_token(secret, rows[-1][0].created_at, rows[-1][0].id, filters)
    return DeliveryPage(deliveries=[delivery_read(d, e) for d, e in rows],
                        pagination_token=next_token)


def replay(
    session: Session, account_id: str, endpoint_id: str, body: ReplayRequest
) -> ReplayResult:
    """Queue new deliveries of past events (same event ids) to an endpoint."""
    endpoint = get_endpoint(session, account_id, endpoint_id, lock=True)
    if not endpoint.enabled:
        raise conflict("endpoint_disabled", "The webhook endpoint is disabled",
                       {"description": "Enable it (PATCH enabled=true) before replaying."})
    if body.event_id is not None:
        event = repository.account_event(session, account_id, body.event_id)
        if event is None:
            raise not_found("Event", body.event_id)
        events = [event]
    else:
        assert body.since is not None
        events = repository.events_since(
            session, account_id, since=body.since, until=body.until,
            event_types=endpoint.event_types, limit=MAX_REPLAY_EVENTS + 1,
        )
        if len(events) > MAX_REPLAY_EVENTS:
            raise invalid_field("json", "until", f"More than {MAX_REPLAY_EVENTS} events match; "
                                                 "replay a shorter window (since/until).")
    # An event already queued goes out anyway; with only_failed, one acknowledged is done.
    skip_statuses = [DeliveryStatus.PENDING.value]
    if body.only_failed:
        skip_statuses.append(DeliveryStatus.DELIVERED.value)
    skip = repository.event_ids_with_status(
        session, endpoint.id, [e.id for e in events], skip_statuses
    )
    now = utcnow()
    created: list[str] = []
    for event in events:
        if event.id in skip:
            continue
        delivery = dispatch.new_delivery(endpoint, event, now=now, replay=True)
        session.add(delivery)
        created.append(delivery.id)
    if created:
        dispatch.kick(session, account_id, endpoint.id)
    return ReplayResult(replayed=len(created), skipped=len(events) - len(created),
                        delivery_ids=created)


@dataclass(frozen=True)
class HistoryQuery:
    """The parsed query of ``GET /orders/{order_handle}/webhooks``."""

    values: tuple[str, ...] | None
    from_time: datetime | None
    to_time: datetime | None
    fulfillment_attempt: int | None
    limit: int
    descending: bool
    pagination_token: str | None

    def fingerprint(self) -> dict[str, Any]:
        """The filters a pagination token is bound to."""
        return {"values": self.values, "from": self.from_time, "to": self.to_time,
                "attempt": self.fulfillment_attempt, "desc": self.descending}


def _history_item(delivery: WebhookDelivery, event: OutboxEvent) -> OrderWebhook:
    return OrderWebhook.model_validate({
        **event.payload,
        "id": event.id,
        "delivery_http_status": delivery.last_http_status,
        "retry_count": max(delivery.attempts - 1, 0),
        "delivery_http_response_text": delivery.last_response_text,
        "delivery_id": delivery.id,
        "delivery_status": delivery.status,
        "endpoint_id": delivery.endpoint_id,
        "webhook_id": delivery.webhook_id,
        "delivered_at": delivery.completed_at if delivery.status == "delivered" else None,
    })


def order_history(
    session: Session, account_id: str, order_handle: str, query: HistoryQuery, *,
    secret: SigningKeys,
) -> OrderWebhookPage:
    """The webhooks sent (or queued) for an order's events, one entry per delivery."""
    # An unknown order (or attempt) is a 404, as on every other per-order operation.
    orders.find_order(session, account_id, order_handle,
                      fulfillment_attempt=query.fulfillment_attempt)
    filters = {"order": order_handle, **query.fingerprint()}
    after = _page_key(secret, query.pagination_token, filters) if query.pagination_token else None
    rows = repository.order_history(
        session, account_id, order_handle, values=query.values, from_time=query.from_time,
        to_time=query.to_time, fulfillment_attempt=query.fulfillment_attempt,
        descending=query.descending, after=after, limit=query.limit + 1,
    )
    next_token = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        delivery, event = rows[-1]
        next_token = _next_token(secret, event.recorded_at, delivery.id, filters)
    return OrderWebhookPage(webhooks=[_history_item(d, e) for d, e in rows],
                            pagination_token=next_token)
