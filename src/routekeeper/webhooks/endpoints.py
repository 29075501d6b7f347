"""HTTP endpoints of webhooks: endpoint management, deliveries, replay (``/webhooks/...``),
and the order webhook history ``GET /orders/{order_handle}/webhooks`` (contract 2.4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import invalid_field
from routekeeper.core.pagination import page_keys
from routekeeper.core.query_filters import QueryLimit, query_param
from routekeeper.core.responses import (
    ERRORS_401_404_422,
    ERRORS_401_422,
    ERRORS_ALL,
    NO_STORE,
    R400,
    R401,
    R404,
    R422,
)
from routekeeper.core.routing import Router
from routekeeper.core.timefmt import parse_query_time
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
from routekeeper.orders.paths import ORDER
from routekeeper.orders.schemas import SortDirection
from routekeeper.webhooks import schemas, service
from routekeeper.webhooks.catalog import HISTORY_VALUES

router = Router(tags=["Webhooks"])

# Operations with a body also answer core's 400 for a body that is not JSON at all.
CREATE_ERRORS: dict[int | str, dict[str, Any]] = {400: R400[400], 401: R401[401], 422: R422[422]}
UPDATE_ERRORS: dict[int | str, dict[str, Any]] = {**CREATE_ERRORS, 404: R404[404]}


@router.post(
    "/webhooks/endpoints", status_code=201, response_model=schemas.EndpointWithSecret,
    responses=CREATE_ERRORS, dependencies=NO_STORE,
)
def create_endpoint(
    body: schemas.EndpointCreate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
) -> schemas.EndpointWithSecret:
    """Register a receiver URL; the answer holds its signing secret (shown only here)."""
    return service.create_endpoint(session, account.account_id, body, settings.webhooks)


@router.get("/webhooks/endpoints", response_model=schemas.EndpointPage, responses=ERRORS_401_422)
def list_endpoints(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    limit: QueryLimit = 50,
    pagination_token: str | None = None,
) -> schemas.EndpointPage:
    """List the account's endpoints, oldest first."""
    keys = page_keys(settings.signing_keys, "webhook_endpoints", account.account_id)
    return service.list_endpoints(session, account.account_id, limit=limit,
                                  token=pagination_token, secret=keys)


@router.get(
    "/webhooks/endpoints/{endpoint_id}", response_model=schemas.EndpointRead,
    responses=ERRORS_401_404_422,
)
def get_endpoint(
    endpoint_id: str, account: CurrentAccount, session: ReadSession
) -> schemas.EndpointRead:
    """Read one endpoint (without its secret)."""
    return service.endpoint_read(service.get_endpoint(session, account.account_id, endpoint_id))


@router.patch(
    "/webhooks/endpoints/{endpoint_id}", response_model=schemas.EndpointRead,
    responses=UPDATE_ERRORS,
)
def update_endpoint(
    endpoint_id: str, body: schemas.EndpointUpdate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
) -> schemas.EndpointRead:
    """Change an endpoint's URL, filter, description, or enable/disable it."""
    return service.update_endpoint(session, account.account_id, endpoint_id, body,
                                   settings.webhooks)


@router.delete("/webhooks/endpoints/{endpoint_id}", responses=ERRORS_401_404_422)
def delete_endpoint(
    endpoint_id: str, account: CurrentAccount, session: WriteSession
) -> dict[str, Any]:
    """Delete an endpoint; its delivery history stays visible on the orders."""
    service.delete_endpoint(session, account.account_id, endpoint_id)
    return {}


@router.post(
    "/webhooks/endpoints/{endpoint_id}/rotate-secret", response_model=schemas.EndpointWithSecret,
    responses=ERRORS_401_404_422, dependencies=NO_STORE,
)
def rotate_secret(
    endpoint_id: str, account: CurrentAccount, session: WriteSession, settings: SettingsDep
) -> schemas.EndpointWithSecret:
    """Issue a new signing secret; the old one also signs until previous_secret_expires_at."""
    return service.rotate_secret(session, account.account_id, endpoint_id, settings.webhooks)


@router.get(
    "/webhooks/endpoints/{endpoint_id}/deliveries", response_model=schemas.DeliveryPage,
    responses=ERRORS_401_404_422,
)
def list_deliveries(
    endpoint_id: str,
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    status: schemas.DeliveryStatus | None = None,
    event_id: str | None = None,
    limit: QueryLimit = 50,
    pagination_token: str | None = None,
) -> schemas.DeliveryPage:
    """An endpoint's deliveries, newest first, with attempts and last response."""
    return service.list_deliveries(
        session, account.account_id, endpoint_id, status=status, event_id=event_id,
        limit=limit, token=pagination_token,
        secret=page_keys(settings.signing_keys, "webhook_deliveries", account.account_id),
    )


@router.post(
    "/webhooks/endpoints/{endpoint_id}/replay", status_code=202,
    response_model=schemas.ReplayResult, responses=ERRORS_ALL,
)
def replay(
    endpoint_id: str, body: schemas.ReplayRequest, account: CurrentAccount, session: WriteSession
) -> schemas.ReplayResult:
    """Send past events again (same event ids): one ``event_id``, or all ``since`` a time."""
    return service.replay(session, account.account_id, endpoint_id, body)


def _values(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [v for v in values if v not in HISTORY_VALUES]
    if unknown:
        raise invalid_field("query", "value", f"Unknown value(s) {', '.join(unknown)}; use: "
                                              f"{', '.join(sorted(HISTORY_VALUES))}.")
    return values or None


@router.get(
    f"{ORDER}/webhooks", response_model=schemas.OrderWebhookPage,
    responses=ERRORS_401_404_422, tags=["Orders"],
)
def order_webhooks(
    order_handle: str,
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    value: str | None = None,
    from_time: str | None = None,
    to_time: str | None = None,
    fulfillment_attempt: Annotated[int | None, Query(ge=0)] = None,
    limit: QueryLimit = 50,
    sort_direction: SortDirection = SortDirection.DESC,
    pagination_token: str | None = None,
    debug_level: Annotated[str, Query(include_in_schema=False)] = "",
) -> schemas.OrderWebhookPage:
    """The webhooks sent for an order's events, with each delivery's HTTP outcome."""
    del debug_level  # accepted for compatibility; it changes nothing here
    query = service.HistoryQuery(
        values=_values(value), from_time=query_param("from_time", from_time, parse_query_time),
        to_time=query_param("to_time", to_time, parse_query_time),
        fulfillment_attempt=fulfillment_attempt,
        limit=limit, descending=sort_direction == SortDirection.DESC,
        pagination_token=pagination_token,
    )
    keys = page_keys(settings.signing_keys, "order_webhooks", account.account_id)
    return service.order_history(session, account.account_id, order_handle, query, secret=keys)
