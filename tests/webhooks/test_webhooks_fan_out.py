"""Fan-out reads an account's endpoints once per transaction, and never a stale list."""

from __future__ import annotations

from sqlalchemy import func, select

from routekeeper.db.engine import Database
from routekeeper.models.webhook_delivery import WebhookDelivery
from routekeeper.settings import Settings
from routekeeper.webhooks.outbox import record_event
from routekeeper.webhooks.schemas import EndpointCreate, EndpointUpdate
from routekeeper.webhooks.service import create_endpoint, update_endpoint
from tests.conftest import Tenant


def _event(session, account_id: str) -> str:  # type: ignore[no-untyped-def]
    event = record_event(session, account_id=account_id, type="order", value="created",
                         data={"order_handle": "memo"})
    return str(event.id)


def _deliveries(session, account_id: str, event_id: str) -> int:  # type: ignore[no-untyped-def]
    return int(session.scalar(
        select(func.count()).select_from(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.event_id == event_id)
    ))


def test_endpoint_created_mid_transaction_gets_later_events(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    hooks = settings.webhooks.model_copy(update={"allow_private_targets": True})
    with db.write() as session:
        before = _event(session, tenant.account_id)  # no endpoint yet: memo of none
        create_endpoint(session, tenant.account_id,
                        EndpointCreate(url="http://127.0.0.1:9/hook"), hooks)
        after = _event(session, tenant.account_id)
        session.flush()
        assert _deliveries(session, tenant.account_id, before) == 0
        assert _deliveries(session, tenant.account_id, after) == 1


def test_endpoint_disabled_mid_transaction_gets_no_later_events(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    hooks = settings.webhooks.model_copy(update={"allow_private_targets": True})
    with db.write() as session:
        endpoint = create_endpoint(session, tenant.account_id,
                                   EndpointCreate(url="http://127.0.0.1:9/hook"), hooks)
    with db.write() as session:
        first = _event(session, tenant.account_id)  # memo holds the enabled endpoint
        update_endpoint(session, tenant.account_id, endpoint.id,
                        EndpointUpdate(enabled=False), hooks)
        second = _event(session, tenant.account_id)
        session.flush()
        assert _deliveries(session, tenant.account_id, second) == 0
        # The first event's delivery was pending when the endpoint was disabled: cancelled.
        assert _deliveries(session, tenant.account_id, first) <= 1


def test_each_transaction_reads_endpoints_afresh(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    hooks = settings.webhooks.model_copy(update={"allow_private_targets": True})
    with db.write() as session:
        _event(session, tenant.account_id)  # memo of none, in this transaction only
    with db.write() as session:
        create_endpoint(session, tenant.account_id,
                        EndpointCreate(url="http://127.0.0.1:9/hook"), hooks)
    with db.write() as session:
        event = _event(session, tenant.account_id)
        session.flush()
        assert _deliveries(session, tenant.account_id, event) == 1
