"""SQL of webhooks: endpoints, the delivery queue and its claims, listings and history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from routekeeper.models.job import Job
from routekeeper.models.order import Order
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.webhook_delivery import WebhookDelivery
from routekeeper.models.webhook_endpoint import WebhookEndpoint

PENDING = "pending"


def active_endpoints(session: Session, account_id: str) -> list[WebhookEndpoint]:
    """The account's enabled endpoints, which receive new events."""
    return list(session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account_id, WebhookEndpoint.enabled.is_(True),
               WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    ))


def get_endpoint(
    session: Session, account_id: str, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint | None:
    """One endpoint of the account that is not deleted; ``lock`` serialises its senders.

    The lock is ``FOR NO KEY UPDATE`` on PostgreSQL, which does not block transactions
    that only insert deliveries referencing the endpoint (SQLite has one writer anyway).
    """
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == account_id, WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.deleted_at.is_(None),
    )
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return session.scalar(query)


def list_endpoints(
    session: Session, account_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[WebhookEndpoint]:
    """A page of the account's endpoints, oldest first."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id == account_id, WebhookEndpoint.deleted_at.is_(None)
    )
    if after is not None:
        query = query.where(_after(WebhookEndpoint.created_at, WebhookEndpoint.id, after, False))
    query = query.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id).limit(limit)
    return list(session.scalars(query))


def _after(
    first: Any, second: Any, key: tuple[Any, Any], descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in (first, second) order: the keyset condition."""
    if descending:
        return or_(first < key[0], and_(first == key[0], second < key[1]))
    return or_(first > key[0], and_(first == key[0], second > key[1]))


def cancel_pending(
    session: Session, account_id: str, endpoint_id: str, *, status: str, reason: str,
    now: datetime,
) -> None:
    """End every pending delivery of an endpoint (disabled or deleted) with ``status``.

    The lease stays, so a sender whose attempt is in flight can still record what happened.
    """
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id,
               WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
        .values(status=status, next_attempt_at=None, completed_at=now, last_error=reason,
                updated_at=now)
    )


def _claimable(account_id: str, endpoint_id: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookDelivery.account_id == account_id,
        WebhookDelivery.endpoint_id == endpoint_id,
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    )


def next_claimable(session: Session, account_id: str, endpoint_id: str, now: datetime
                   ) -> WebhookDelivery | None:
    """The delivery of an endpoint that is due first and held by no sender."""
    return session.scalar(
        select(WebhookDelivery)
        .where(_claimable(account_id, endpoint_id, now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
        .limit(1)
    )


def batch_members(session: Session, account_id: str, batch_id: str) -> list[WebhookDelivery]:
    """The pending deliveries of a batch formed earlier, in event order."""
    return list(session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.batch_id == batch_id,
               WebhookDelivery.status == PENDING)
        .order_by(WebhookDelivery.event_seq)
    ))


def unbatched_due(
    session: Session, account_id: str, endpoint_id: str, now: datetime, limit: int
) -> list[WebhookDelivery]:
    """Due deliveries never attempted yet, oldest event first, to form a new batch."""
    return list(session.scalars(
        select(WebhookDelivery)
        .where(_claimable(account_id, endpoint_id, now), WebhookDelivery.batch_id.is_(None))
        .order_by(WebhookDelivery.event_seq)
        .limit(limit)
    ))


def held_by(session: Session, account_id: str, batch_id: str, token: str
            ) -> list[WebhookDelivery]:
    """The deliveries of a batch still leased to ``token`` (empty when the lease was lost)."""
    return list(session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.batch_id == batch_id,
               WebhookDelivery.locked_by == token)
        .order_by(WebhookDelivery.event_seq)
    ))


def payloads(session: Session, account_id: str, event_ids: Sequence[str]
             ) -> list[dict[str, Any]]:
    """The stored envelopes of an account's events, in outbox order."""
    return list(session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.account_id == account_id, OutboxEvent.id.in_(event_ids))
        .order_by(OutboxEvent.seq)
    ))


def next_due(session: Session, account_id: str, endpoint_id: str, now: datetime
             ) -> datetime | None:
    """When a pending delivery of the endpoint next needs a sender (a lease ends, a retry
    falls due), or None when nothing is pending."""
    pending = and_(WebhookDelivery.account_id == account_id,
                   WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
    free = session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at)).where(
            pending,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
        )
    )
    leased = session.scalar(
        select(func.min(WebhookDelivery.locked_until)).where(
            pending, WebhookDelivery.locked_until >= now
        )
    )
    times = [t for t in (free, leased) if t is not None]
    return min(times) if times else None


def has_queued_job(
    session: Session, task: str, key_prefix: str, *, by: datetime, exclude_job_id: str | None
) -> bool:
    """Whether a queued job of ``task`` whose dedupe key starts with ``key_prefix`` will run
    by ``by``."""
    query = select(Job.id).where(
        Job.task == task, Job.status == "queued", Job.run_at <= by,
        Job.dedupe_key.startswith(key_prefix, autoescape=True),
    )
    if exclude_job_id is not None:
        query = query.where(Job.id != exclude_job_id)
    return session.scalar(query.limit(1)) is not None


def stalled_endpoints(session: Session, before: datetime) -> list[tuple[str, str]]:
    """(account, endpoint) pairs with a pending delivery that should have been sent before
    ``before``: the safety net for senders that gave up for good."""
    rows = session.execute(
        select(WebhookDelivery.account_id, WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == PENDING,
            or_(
                and_(WebhookDelivery.locked_until.is_(None),
                     WebhookDelivery.next_attempt_at < before),
                WebhookDelivery.locked_until < before,
            ),
        )
        .distinct()
    )
    return [(account_id, endpoint_id) for account_id, endpoint_id in rows]


def list_deliveries(
    session: Session,
    account_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    event_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[WebhookDelivery, OutboxEvent]]:
    """A page of an endpoint's deliveries with their events, newest first."""
    query = _with_events().where(WebhookDelivery.account_id == account_id,
                                 WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    if after is not None:
        query = query.where(
            _after(WebhookDelivery.created_at, WebhookDelivery.id, after, True)
        )
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return [(row[0], row[1]) for row in session.execute(query.limit(limit))]


def _with_events() -> Select[WebhookDelivery, OutboxEvent]:
    """Deliveries joined with their events."""
    return (select(WebhookDelivery, OutboxEvent)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id))


def order_history(
    session: Session,
    account_id: str,
    order_handle: str,
    *,
    values: Sequence[str] | None,
    from_time: datetime | None,
    to_time: datetime | None,
    fulfillment_attempt: int | None,
    descending: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[WebhookDelivery, OutboxEvent]]:
    """A page of the deliveries of one order's events, by event time then delivery."""
    query = _with_events().where(
        OutboxEvent.account_id == account_id, OutboxEvent.order_handle == order_handle,
        OutboxEvent.type == "order", WebhookDelivery.account_id == account_id)
    if values:
        query = query.where(OutboxEvent.value.in_(values))
    if from_time is not None:
        query = query.where(OutboxEvent.recorded_at >= from_time)
    if to_time is not None:
        query = query.where(OutboxEvent.recorded_at < to_time)
    if fulfillment_attempt is not None:
        query = query.join(
            Order, and_(Order.account_id == OutboxEvent.account_id,
                        Order.id == OutboxEvent.order_id)
        ).where(Order.fulfillment_attempt == fulfillment_attempt)
    if after is not None:
        query = query.where(_after(OutboxEvent.recorded_at, WebhookDelivery.id, after, descending))
    if descending:
        query = query.order_by(OutboxEvent.recorded_at.desc(), WebhookDelivery.id.desc())
    else:
        query = query.order_by(OutboxEvent.recorded_at, WebhookDelivery.id)
    return [(row[0], row[1]) for row in session.execute(query.limit(limit))]


def account_event(session: Session, account_id: str, event_id: str) -> OutboxEvent | None:
    """One event of the account."""
    return session.scalar(
        select(OutboxEvent).where(OutboxEvent.account_id == account_id, OutboxEvent.id == event_id)
    )


def events_since(
    session: Session,
    account_id: str,
    *,
    since: datetime,
    until: datetime | None,
    event_types: Sequence[str] | None,
    limit: int,
) -> list[OutboxEvent]:
    """The account's events recorded in [since, until) that pass a filter, oldest first."""
    query = select(OutboxEvent).where(
        OutboxEvent.account_id == account_id, OutboxEvent.created_at >= since
    )
    if until is not None:
        query = query.where(OutboxEvent.created_at < until)
    if event_types is not None:
        kinds = [t for t in event_types if "." not in t]
        pairs = [tuple(t.split(".", 1)) for t in event_types if "." in t]
        query = query.where(or_(
            OutboxEvent.type.in_(kinds),
            *(and_(OutboxEvent.type == k, OutboxEvent.value == v) for k, v in pairs),
        ))
    return list(session.scalars(query.order_by(OutboxEvent.seq).limit(limit)))


def event_ids_with_status(
    session: Session, endpoint_id: str, event_ids: Sequence[str], statuses: Sequence[str]
) -> set[str]:
    """Which of these events have a delivery to the endpoint in one of ``statuses``."""
    found: set[str] = set()
    # Chunks keep the IN list within every database's parameter limit.
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        found.update(session.scalars(
            select(WebhookDelivery.event_id).where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.event_id.in_(chunk),
                WebhookDelivery.status.in_(statuses),
            )
        ))
    return found
