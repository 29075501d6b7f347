"""HTTP endpoints of orders (contract sections 2.1, 2.2 and 2.4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Depends, Query

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.links import Links
from routekeeper.core.pagination import page_keys
from routekeeper.core.query_filters import query_param
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
from routekeeper.dependencies import (
    DatabaseDep,
    GeocoderDep,
    ReadSession,
    RunnerDep,
    SettingsDep,
    WriteSession,
)
from routekeeper.geocoding.service import require_for_region_filter
from routekeeper.models.order import Order
from routekeeper.order_tasks.lists import tasks_by_order
from routekeeper.orders import flows, repository, service
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
from routekeeper.planning.schemas import PlanResponse, PlanResult
from routekeeper.routes.context import RouteContext
from routekeeper.routes.dependencies import ChangeContext
from routekeeper.routes.schemas import RouteRead
from routekeeper.tracking.engine.outages import merge as merge_outages
from routekeeper.views.tokens import embed_links

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


def _detail(session: Any, order: Any, links: Links) -> dict[str, Any]:
    return order_detail_wire(order, links, repository.timeline(session, order),
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
    links = embed_links(settings, account)
    return {"orders": [order_wire(o, links, tasks=tasks[o.id]) for o in rows],
            "pagination_token": token, "aggregate": aggregate}


@router.post(
    "/orders/", status_code=201, response_model=OrderList | RouteRead | PlanResult | PlanResponse,
    responses=CREATE_ERRORS,
)
def create_orders(body: OrdersCreate, ctx: ChangeContext, geocoder: GeocoderDep,
                  db: DatabaseDep, runner: RunnerDep) -> dict[str, Any]:
    """Create a batch of orders; ``manual`` stores them ``unplanned`` (or on a route for the
    posted worker), other plan modes plan them."""
    return flows.create(ctx, body, geocoder=geocoder, db=db, runner=runner)


def _lookup(session: Any, account_id: str, order_handle: str, selector: Selector) -> Any:
    return service.find_order(
        session, account_id, order_handle, type=selector.type,
        type_index=selector.type_index, fulfillment_attempt=selector.fulfillment_attempt,
    )


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
    lo = query_param("from_time", from_time, parse_ts)
    hi = query_param("to_time", to_time, parse_ts)
    order = _lookup(session, account.account_id, order_handle, selector)
    data = _detail(session, order, embed_links(settings, account))
    data["timeline"] = timeline_view(
        data["timeline"], since=lo, until=hi, device_id=device_id,
        on_shift_only=on_shift_only, shift=tracked_span(order),
        allow_mocked=allow_mocked_events)
    return data


@router.patch(ORDER, response_model=OrderDetail, responses=PATCH_ERRORS)
def update_order(order_handle: str, body: OrderUpdate, ctx: ChangeContext,
                 geocoder: GeocoderDep, selector: SelectorDep) -> dict[str, Any]:
    """Change an order's fields (its route's estimates follow)."""
    order = _lookup(ctx.session, ctx.account_id, order_handle, selector)
    return _answer(ctx, flows.update(ctx, order, body, geocoder=geocoder))


def _action_body(body: OrderActionBody | None) -> dict[str, Any] | None:
    return body.metadata if body else None


ActionBody = Annotated[OrderActionBody | None, Body()]
Action = Callable[..., Order]


def _answer(ctx: RouteContext, order: Order) -> dict[str, Any]:
    ctx.session.flush()
    return _detail(ctx.session, order, ctx.links)


def _action(flow: Action) -> Callable[..., dict[str, Any]]:
    """The endpoint of a state change whose body is an optional ``metadata`` object: apply
    it to the order (its route follows), answer the order's detail."""

    def act(order_handle: str, ctx: ChangeContext, selector: SelectorDep,
            body: ActionBody = None) -> dict[str, Any]:
        order = _lookup(ctx.session, ctx.account_id, order_handle, selector)
        return _answer(ctx, flow(ctx, order, metadata=_action_body(body)))

    return act


# POST /orders/{order_handle}/<verb>: the flow and the operation's description.
_ACTIONS: tuple[tuple[str, Action, str], ...] = (
    ("complete", flows.complete, "Complete an order."),
    ("cancel", flows.cancel,
     "Cancel an order (a ``metadata`` object in the body is merged into the order's)."),
    ("disable", flows.disable,
     "Disable an order: it stays on its route but out of the route's ETAs."),
    ("enable", flows.enable, "Enable a disabled order again."),
)
for _verb, _flow, _description in _ACTIONS:
    router.add_api_route(f"{ORDER}/{_verb}", _action(_flow), methods=["POST"],
                         name=f"{_verb}_order", description=_description,
                         response_model=OrderDetail, responses=ERRORS_ALL)


@router.post(
    f"{ORDER}/reschedule", response_model=OrderDetail, responses=ERRORS_ALL
)
def reschedule_order(order_handle: str, body: Reschedule, ctx: ChangeContext,
                     selector: SelectorDep) -> dict[str, Any]:
    """Move an order's time window (a started order is re-created as a new attempt)."""
    order = _lookup(ctx.session, ctx.account_id, order_handle, selector)
    return _answer(ctx, flows.reschedule(ctx, order, body))


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
