"""HTTP endpoints of orders (contract sections 2.1, 2.2 and 2.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Query, Request

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import invalid_field
from routekeeper.core.pagination import page_keys
from routekeeper.core.responses import (
    ERRORS_401_404_422,
    ERRORS_401_422,
    ERRORS_ALL,
    R400,
    R401,
    R404_CODED,
    R404_EITHER,
    R409,
    R422,
)
from routekeeper.core.routing import Router
from routekeeper.core.timefmt import parse_ts
from routekeeper.dependencies import GeocoderDep, ReadSession, SettingsDep, WriteSession
from routekeeper.geocoding.service import require_for_region_filter
from routekeeper.order_tasks.lists import tasks_by_order
from routekeeper.orders import repository, service
from routekeeper.orders.filters import OrderFilters
from routekeeper.orders.paths import ORDER
from routekeeper.orders.schemas import (
    CustomEvents,
    OrderActionBody,
    OrderDetail,
    OrderList,
    OrderPage,
    OrdersCreate,
    OrderType,
    OrderUpdate,
    Reschedule,
)
from routekeeper.orders.timeline import timeline_view, tracked_span
from routekeeper.orders.wire import order_detail_wire, order_wire
from routekeeper.planning.requests import plan_new_orders
from routekeeper.planning.schemas import PlanResponse, PlanResult
from routekeeper.routes.manual import route_for_new_orders
from routekeeper.routes.schemas import RouteRead
from routekeeper.routes.service import RouteContext
from routekeeper.routes.sync import lock_for_order_change, sync_route
from routekeeper.settings import Settings
from routekeeper.tracking.engine.outages import merge as merge_outages

router = Router(tags=["Orders"])

# Built item by item: core.responses types its parts with int keys only. The coded 404 is an
# unknown geofence_id in a destination (geofence_not_found).
CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: doc for part in (R400, R401, R404_CODED, R409, R422) for code, doc in part.items()
}
# A PATCH names the order in its path (HTTPError 404) and may name a geofence in its body
# (Error 404).
PATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    code: doc for part in (R400, R401, R404_EITHER, R409, R422) for code, doc in part.items()
}


@dataclass(frozen=True)
class Selector:
    """The per-order selector: ``type``, ``type_index``, ``fulfillment_attempt``."""

    type: str | None
    type_index: int | None
    fulfillment_attempt: int | None


def selector(
    type: OrderType | None = None,
    type_index: Annotated[int | None, Query(ge=0)] = None,
    fulfillment_attempt: Annotated[int | None, Query(ge=0)] = None,
) -> Selector:
    """Read the selector query parameters."""
    return Selector(type.value if type else None, type_index, fulfillment_attempt)


SelectorDep = Annotated[Selector, Depends(selector)]


def _detail(session: Any, order: Any, settings: Settings) -> dict[str, Any]:
    return order_detail_wire(order, settings.public_url, repository.timeline(session, order),
                             tasks=tasks_by_order(session, [order])[order.id])


@router.get("/orders/", response_model=OrderPage, responses=ERRORS_401_422)
def list_orders(
    filters: Annotated[OrderFilters, Query()],
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    geocoder: GeocoderDep,
) -> dict[str, Any]:
    """List and filter orders, newest first by default, with cursor pagination."""
    if filters.region_filter:
        require_for_region_filter(geocoder, "query")
    rows, token = service.list_orders(
        session, account.account_id, filters,
        secret=page_keys(settings.signing_keys, "orders", account.account_id),
    )
    # send_outage asks for the outage summary, which is part of the aggregate block.
    aggregate = repository.aggregate(session, account.account_id, filters) \
        if filters.aggregate or filters.send_outage else None
    if aggregate is not None and filters.send_outage:
        aggregate["outage_summary"] = merge_outages(
            repository.outage_summaries(session, account.account_id, filters))
    tasks = tasks_by_order(session, rows)
    return {"orders": [order_wire(o, settings.public_url, tasks=tasks[o.id]) for o in rows],
            "pagination_token": token, "aggregate": aggregate}


@router.post(
    "/orders/", status_code=201, response_model=OrderList | RouteRead | PlanResult | PlanResponse,
    responses=CREATE_ERRORS,
)
def create_orders(
    request: Request, body: OrdersCreate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep, geocoder: GeocoderDep,
) -> dict[str, Any]:
    """Create a batch of orders; ``manual`` stores them ``unplanned``."""
    orders = service.create_orders(session, account.account_id, body, geocoder=geocoder)
    if body.plan_mode.value != "manual":
        return plan_new_orders(request, session, account.account_id, orders,
                               mode=body.plan_mode.value, sync=body.enable_sync_planning)
    if body.worker is not None:
        # Manual mode with a worker: a route for that worker, in the posted sequence.
        return route_for_new_orders(request, session, account.account_id, body.worker, orders)
    tasks = tasks_by_order(session, orders)
    return {"orders": [order_wire(o, settings.public_url, tasks=tasks[o.id]) for o in orders]}


def _lookup(session: Any, account_id: str, order_handle: str, selector: Selector) -> Any:
    return service.find_order(
        session, account_id, order_handle, type=selector.type,
        type_index=selector.type_index, fulfillment_attempt=selector.fulfillment_attempt,
    )


def _query_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise invalid_field("query", name, str(exc)) from exc


@router.get(ORDER, response_model=OrderDetail, responses=ERRORS_401_404_422)
def get_order(
    order_handle: str,
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    selector: SelectorDep,
    from_time: str | None = None,
    to_time: str | None = None,
    on_shift_only: bool = False,
    allow_mocked_events: bool = False,
    device_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    """An order with its timeline, narrowed to a time range, to the time it was tracked
    (``on_shift_only``), to one device, and without mocked events unless allowed."""
    lo = _query_time("from_time", from_time)
    hi = _query_time("to_time", to_time)
    order = _lookup(session, account.account_id, order_handle, selector)
    data = _detail(session, order, settings)
    data["timeline"] = timeline_view(
        data["timeline"], since=lo, until=hi, device_id=device_id,
        on_shift_only=on_shift_only, shift=tracked_span(order),
        allow_mocked=allow_mocked_events)
    return data


@router.patch(ORDER, response_model=OrderDetail, responses=PATCH_ERRORS)
def update_order(
    request: Request, order_handle: str, body: OrderUpdate, account: CurrentAccount,
    session: WriteSession, settings: SettingsDep, selector: SelectorDep,
) -> dict[str, Any]:
    """Change an order's fields (its route's estimates follow)."""
    order = _lookup(session, account.account_id, order_handle, selector)
    with _route_in_step(request, session, account.account_id, order):
        order = service.update_order(session, account.account_id, order, body,
                                     public_url=settings.public_url,
                                     geocoder=request.app.state.geocoder)
    session.flush()
    return _detail(session, order, settings)


def _action_body(body: OrderActionBody | None) -> dict[str, Any] | None:
    return body.metadata if body else None


ActionBody = Annotated[OrderActionBody | None, Body()]


@contextmanager
def _route_in_step(request: Request, session: Any, account_id: str, order: Any) -> Iterator[None]:
    """Lock the order's route (then the order) before a change, and bring the route in step
    with it after: sequence, estimates, version, completion when its last order finished."""
    ctx = RouteContext(session, account_id, request.app.state.settings, request.app.state.travel)
    route = lock_for_order_change(ctx, order)
    yield
    session.flush()
    if route is not None:
        sync_route(ctx, route)


def _act(
    request: Request, session: Any, account_id: str, order_handle: str,
    selector: Selector, settings: Settings, change: Callable[[Any], object],
) -> dict[str, Any]:
    """Apply one state change to an order, keep its route in step, answer its detail."""
    order = _lookup(session, account_id, order_handle, selector)
    with _route_in_step(request, session, account_id, order):
        change(order)
    session.flush()
    return _detail(session, order, settings)


@router.post(f"{ORDER}/complete", response_model=OrderDetail, responses=ERRORS_ALL)
def complete_order(
    request: Request, order_handle: str, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Complete an order."""
    return _act(request, session, account.account_id, order_handle, selector, settings,
                lambda o: service.complete_order(session, o, metadata=_action_body(body),
                                                 public_url=settings.public_url,
                                                 tracking=settings.tracking))


@router.post(f"{ORDER}/cancel", response_model=OrderDetail, responses=ERRORS_ALL)
def cancel_order(
    request: Request, order_handle: str, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Cancel an order (a ``metadata`` object in the body is merged into the order's)."""
    return _act(request, session, account.account_id, order_handle, selector, settings,
                lambda o: service.cancel_order(session, o, metadata=_action_body(body),
                                               public_url=settings.public_url,
                                               tracking=settings.tracking))


@router.post(f"{ORDER}/disable", response_model=OrderDetail, responses=ERRORS_ALL)
def disable_order(
    request: Request, order_handle: str, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Disable an order: it stays on its route but out of the route's ETAs."""
    return _act(request, session, account.account_id, order_handle, selector, settings,
                lambda o: service.disable_order(session, o, metadata=_action_body(body),
                                                public_url=settings.public_url))


@router.post(f"{ORDER}/enable", response_model=OrderDetail, responses=ERRORS_ALL)
def enable_order(
    request: Request, order_handle: str, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Enable a disabled order again."""
    return _act(request, session, account.account_id, order_handle, selector, settings,
                lambda o: service.enable_order(session, o, metadata=_action_body(body),
                                               public_url=settings.public_url))


@router.post(
    f"{ORDER}/reschedule", response_model=OrderDetail, responses=ERRORS_ALL
)
def reschedule_order(
    request: Request, order_handle: str, body: Reschedule, account: CurrentAccount,
    session: WriteSession,
    settings: SettingsDep, selector: SelectorDep,
) -> dict[str, Any]:
    """Move an order's time window (a started order is re-created as a new attempt)."""
    order = _lookup(session, account.account_id, order_handle, selector)
    with _route_in_step(request, session, account.account_id, order):
        result = service.reschedule_order(session, order, body, public_url=settings.public_url,
                                          tracking=settings.tracking)
    session.flush()
    return _detail(session, result, settings)


@router.post(
    f"{ORDER}/events", status_code=201, responses=ERRORS_401_404_422
)
def add_events(
    order_handle: str, body: CustomEvents, account: CurrentAccount, session: WriteSession,
    selector: SelectorDep,
) -> dict[str, Any]:
    """Append custom events to an order's timeline."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.add_custom_events(session, order, body)
    return {}
