"""The delivery pipeline: outbox event -> deliveries -> batches -> attempts -> outcome.

1. ``fan_out`` runs inside the transaction that records an event: it adds one delivery per
   enabled endpoint whose filter passes, and a ``webhooks.deliver`` job per endpoint. The
   event, its deliveries and their job commit together or not at all: nothing is lost, and
   no cursor over the outbox (whose ``seq`` can commit out of order) is needed.
2. A deliver job claims a batch under a lease (``claim_batch``), POSTs it outside any
   transaction (``send_batch``) and records the outcome fenced on the lease
   (``record_attempt``). A sender that dies leaves a lease that expires; the batch is then
   claimed again and re-sent with the same ``webhook-id``: at least once, never lost.
3. Before finishing, a job makes sure a job will come when the next retry falls due or a
   lease ends (``schedule_follow_up``); a periodic sweep re-arms endpoints whose jobs gave up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.context import current_request_id
from routekeeper.core.ids import new_id
from routekeeper.core.jobs import enqueue
from routekeeper.core.timefmt import format_ts
from routekeeper.db.engine import Database
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.webhook_delivery import WebhookDelivery
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.settings import WebhookSettings
from routekeeper.webhooks import catalog, repository
from routekeeper.webhooks.delivery import AttemptResult, Outcome, next_attempt_at, post_batch
from routekeeper.webhooks.safety import parse_target
from routekeeper.webhooks.signing import batch_webhook_id, signature_headers

DELIVER_TASK = "webhooks.deliver"
NOTIFY_TASK = "webhooks.notify_disabled"
JOB_ATTEMPTS = 10
# A lease covers the connect, send and read phases of one attempt, with room for the
# database work around it; an expired lease means the sender died.
LEASE_MARGIN_S = 5.0
_KICKED = "webhooks.kicked"
_ENDPOINTS = "webhooks.endpoints"


def _job_key_prefix(endpoint_id: str) -> str:
    return f"{DELIVER_TASK}:{endpoint_id}:"


def kick(
    session: Session, account_id: str, endpoint_id: str, *, run_at: datetime | None = None
) -> None:
    """Enqueue a deliver job for an endpoint in the caller's transaction."""
    enqueue(
        session, DELIVER_TASK, {"account_id": account_id, "endpoint_id": endpoint_id},
        account_id=account_id, run_at=run_at,
        dedupe_key=_job_key_prefix(endpoint_id) + new_id(), max_attempts=JOB_ATTEMPTS,
    )


_Memo = TypeVar("_Memo")


def _transaction_memo(session: Session, name: str, empty: Callable[[], _Memo]) -> _Memo:
    """A value kept in ``session.info`` for the current transaction only (fresh in the next)."""
    transaction = session.get_transaction()
    memo: tuple[object, _Memo] | None = session.info.get(name)
    if memo is None or memo[0] is not transaction:
        memo = (transaction, empty())
        session.info[name] = memo
    return memo[1]


def _kick_once(session: Session, account_id: str, endpoint_id: str) -> None:
    # One job per endpoint per transaction is enough: it sends everything that is due.
    kicked: set[str] = _transaction_memo(session, _KICKED, set)
    if endpoint_id not in kicked:
        kicked.add(endpoint_id)
        kick(session, account_id, endpoint_id)


def new_delivery(
    endpoint: WebhookEndpoint, event: OutboxEvent, *, now: datetime, replay: bool = False
) -> WebhookDelivery:
    """A pending delivery of an event to an endpoint, due now."""
    return WebhookDelivery(
        account_id=endpoint.account_id, id=new_id(), endpoint_id=endpoint.id,
        event_id=event.id, event_seq=event.seq, status=repository.PENDING, replay=replay,
        attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
    )


def _active_endpoints(session: Session, account_id: str) -> list[WebhookEndpoint]:
    # Read once per transaction and account: a planning run records thousands of events in
    # one transaction, and a query per event cost about 0.8 s in a 1,000-order plan. An
    # endpoint created in the same transaction drops the memo (``forget_endpoints``); one
    # disabled or deleted in it is filtered out here, so the memo never sends to it.
    known: dict[str, list[WebhookEndpoint]] = _transaction_memo(session, _ENDPOINTS, dict)
    if account_id not in known:
        known[account_id] = repository.active_endpoints(session, account_id)
    return [e for e in known[account_id] if e.enabled and e.deleted_at is None]


def forget_endpoints(session: Session) -> None:
    """Drop the transaction's memo of active endpoints (after creating one)."""
    session.info.pop(_ENDPOINTS, None)


def fan_out(session: Session, event: OutboxEvent) -> None:
    """Add the deliveries of a new event, in the transaction that records the event."""
    # No autoflush: an account without endpoints leaves the caller's flush timing untouched.
    with session.no_autoflush:
        endpoints = [
            endpoint for endpoint in _active_endpoints(session, event.account_id)
            if catalog.matches(endpoint.event_types, event.type, event.value)
        ]
    if not endpoints:
        return
    # Inserts the event now: it gets its seq, and exists before deliveries reference it.
    session.flush()
    now = utcnow()
    for endpoint in endpoints:
        session.add(new_delivery(endpoint, event, now=now))
        _kick_once(session, event.account_id, endpoint.id)


@dataclass(frozen=True)
class ClaimedBatch:
    """A batch leased to one sender, with everything needed to send it."""

    account_id: str
    endpoint_id: str
    batch_id: str
    webhook_id: str
    token: str
    url: str
    live_secrets: tuple[str, ...]
    body: bytes
    size: int


def _live_secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def claim_batch(
    db: Database, account_id: str, endpoint_id: str, settings: WebhookSettings
) -> ClaimedBatch | None:
    """Lease the next due batch of an endpoint (a retry, or a new one of up to batch_size
    events), or None when nothing is due."""
    token = new_id()
    with db.write() as session:
        endpoint = repository.get_endpoint(session, account_id, endpoint_id, lock=True)
        if endpoint is None or not endpoint.enabled:
            return None
        now = utcnow()
        head = repository.next_claimable(session, account_id, endpoint_id, now)
        if head is None:
            return None
        if head.batch_id is not None:
            rows = repository.batch_members(session, account_id, head.batch_id)
            batch_id, webhook_id = head.batch_id, head.webhook_id
        else:
            rows = repository.unbatched_due(session, account_id, endpoint_id, now,
                                                settings.batch_size)
            batch_id = new_id()
            webhook_id = batch_webhook_id([row.event_id for row in rows])
        assert webhook_id is not None and rows
        lease_until = now + timedelta(seconds=3 * settings.timeout_s + LEASE_MARGIN_S)
        for row in rows:
            row.batch_id, row.webhook_id = batch_id, webhook_id
            row.locked_by, row.locked_until = token, lease_until
        events = repository.payloads(session, account_id, [row.event_id for row in rows])
        body = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode()
        return ClaimedBatch(
            account_id=account_id, endpoint_id=endpoint_id, batch_id=batch_id,
            webhook_id=webhook_id, token=token, url=endpoint.url,
            live_secrets=_live_secrets(endpoint, now), body=body, size=len(rows),
        )


def send_batch(batch: ClaimedBatch, settings: WebhookSettings) -> AttemptResult:
    """Sign and POST a claimed batch (no transaction is open meanwhile)."""
    try:
        target = parse_target(batch.url)
    except ValueError as exc:
        return AttemptResult(Outcome.RETRY, error=f"Refused: {exc}")
    headers = signature_headers(batch.live_secrets, batch.webhook_id, int(time.time()), batch.body)
    request_id = current_request_id()
    if request_id:
        # The request that caused the delivery, so both sides' logs can be matched up.
        headers = {**headers, "X-Request-ID": request_id}
    return post_batch(target, batch.body, headers, settings)


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def record_attempt(
    db: Database,
    batch: ClaimedBatch,
    result: AttemptResult,
    *,
    started_at: datetime,
    settings: WebhookSettings,
) -> bool:
    """Store an attempt's outcome on every delivery of the batch; False if the lease was lost
    (another sender owns the batch now and its outcome is the one that counts)."""
    with db.write() as session:
        endpoint = repository.get_endpoint(session, batch.account_id, batch.endpoint_id,
                                           lock=True)
        rows = repository.held_by(session, batch.account_id, batch.batch_id, batch.token)
        if not rows:
            return False
        now = utcnow()
        first = rows[0].first_attempt_at or started_at
        attempts = rows[0].attempts + 1
        retry_at = None
        if result.outcome is Outcome.RETRY:
            retry_at = next_attempt_at(first, attempts, settings.retry_schedule_s, now=now)
        for row in rows:
            row.attempts = attempts
            row.first_attempt_at = first
            row.last_attempt_at = started_at
            row.last_http_status = result.http_status
            row.last_response_text = _clip(result.response_text, settings.max_response_bytes)
            row.last_error = _clip(result.error, 500)
            row.locked_by = row.locked_until = None
            row.updated_at = now
            if result.outcome is not Outcome.RETRY:
                row.status = result.outcome.value
                row.next_attempt_at, row.completed_at = None, now
            elif row.status == repository.PENDING:
                row.status = repository.PENDING if retry_at else "failed"
                row.next_attempt_at = retry_at
                row.completed_at = None if retry_at else now
        if endpoint is not None:
            _track_health(session, endpoint, result, started_at=started_at, now=now,
                          settings=settings)
        return True


def _track_health(
    session: Session,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
    *,
    started_at: datetime,
    now: datetime,
    settings: WebhookSettings,
) -> None:
    # A receiver that answers (2xx or a final 4xx) is healthy, whatever it thinks of us.
    if result.outcome is not Outcome.RETRY:
        endpoint.failing_since = None
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = started_at
    failing_s = (now - endpoint.failing_since).total_seconds()
    if endpoint.enabled and failing_s >= settings.disable_after_s:
        last = (f"HTTP {result.http_status}" if result.http_status is not None
                else result.error or "no answer")
        disable_endpoint(
            session, endpoint, now=now,
            reason=(f"Every delivery failed since {format_ts(endpoint.failing_since)} "
                    f"(last: {last})."),
        )


def disable_endpoint(
    session: Session, endpoint: WebhookEndpoint, *, now: datetime, reason: str
) -> None:
    """Disable a failing endpoint, fail its pending deliveries and have its contact told."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:500]
    endpoint.disabled_notification = None
    endpoint.updated_at = now
    repository.cancel_pending(
        session, endpoint.account_id, endpoint.id, status="failed",
        reason="The endpoint was disabled after failing continuously.", now=now,
    )
    enqueue(session, NOTIFY_TASK, {"account_id": endpoint.account_id, "endpoint_id": endpoint.id},
            account_id=endpoint.account_id, max_attempts=JOB_ATTEMPTS)


def schedule_follow_up(
    session: Session, account_id: str, endpoint_id: str, *, exclude_job_id: str | None
) -> datetime | None:
    """Make sure a deliver job runs when the endpoint's next pending delivery needs one;
    returns that time (None when nothing is pending)."""
    endpoint = repository.get_endpoint(session, account_id, endpoint_id, lock=True)
    now = utcnow()
    if endpoint is None or not endpoint.enabled:
        # Deliveries committed just after the endpoint was disabled or deleted would
        # otherwise wait forever: they end like the ones cancelled at that moment.
        repository.cancel_pending(session, account_id, endpoint_id, status="cancelled",
                                  reason="The endpoint is disabled or deleted.", now=now)
        return None
    due = repository.next_due(session, account_id, endpoint_id, now)
    if due is None:
        return None
    # The endpoint lock serialises this check-then-insert between concurrent senders.
    if not repository.has_queued_job(session, DELIVER_TASK, _job_key_prefix(endpoint_id),
                                     by=due, exclude_job_id=exclude_job_id):
        kick(session, account_id, endpoint_id, run_at=due)
    return due
