"""HTTP endpoints of routes (contract 2.3, 2.6, 2.7 and order reassign of 2.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.fields import Text
from routekeeper.core.responses import (
    ERRORS_401_404_422,
    ERRORS_401_422,
    R400,
    R401,
    R404_CODED,
    R409,
    R422,
    ErrorBody,
    HTTPErrorBody,
    Responses,
)
from routekeeper.core.routing import Router
from routekeeper.dependencies import (
    GeocoderDep,
    ReadSession,
    SettingsDep,
    TravelDep,
    WriteSession,
)
from routekeeper.geocoding.service import require_for_region_filter
from routekeeper.order_tasks.lists import tasks_by_order
from routekeeper.orders import service as order_service
from routekeeper.orders.schemas import OrderDetail, OrderType
from routekeeper.orders.wire import order_detail_wire, order_wire
from routekeeper.routes import candidates, estimated, operations, repository, track
from routekeeper.routes.candidates import CandidateWorkers
from routekeeper.routes.context import (
    RouteContext,
    find_group,
    find_worker,
    get_route,
    resolve_refs,
)
from routekeeper.routes.dependencies import ChangeContext
from routekeeper.routes.estimated import EstimatedRouteRead
from routekeeper.routes.filters import RouteFilters
from routekeeper.routes.schemas import (
    EstimateResponse,
    OrderReassign,
    RouteCreate,
    RouteOrders,
    RoutePage,
    RouteRead,
    RouteReassign,
    RouteUpdate,
    TrackRequest,
)
from routekeeper.routes.service import create_route
from routekeeper.routes.wire import bound_by_wire, route_wire
from routekeeper.tracking.engine.outages import merge as merge_outages
from routekeeper.tracking.service import worker_location
from routekeeper.travel.base import TravelModel
from routekeeper.views.tokens import embed_links

router = Router(tags=["Orders"])

# A missing route is an HTTPError; a missing order, worker or device named in the request
# is an Error with its documented code (order_not_found, driver_not_found, ...).
R404_EITHER: Responses = {404: {
    "model": HTTPErrorBody | ErrorBody,
    "description": "Not found: the route (HTTPError), or an order, worker or device named "
                   "in the request (Error with its code)",
}}
TRACK_ERRORS: Responses = {**R400, **R401, **R404_CODED, **R409, **R422}
CHANGE_ERRORS: Responses = {**R400, **R401, **R404_EITHER, **R409, **R422}
ESTIMATE_ERRORS: Responses = {**R400, **R401, **R404_CODED, **R422}
Version = Annotated[int | None, Query(ge=1, description="Route version the change is based on")]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def _route_change(action: str) -> Callable[[Endpoint], Endpoint]:
    """The operation ``POST /orders/routes/{route_handle}/<action>``: every one answers the
    changed route and the same errors."""
    return router.post(f"/orders/routes/{{route_handle}}/{action}", response_model=RouteRead,
                       responses=CHANGE_ERRORS)


Travel = TravelDep


def _ctx(session: Any, account: Any, settings: Any, travel: TravelModel) -> RouteContext:
    return RouteContext(session, account.account_id, settings, travel, worker_location,
                        embed_links(settings, account))


def _full(ctx: RouteContext, route: Any, *, include_summary: bool = True) -> dict[str, Any]:
    ctx.session.flush()
    return route_wire(route, repository.route_orders(ctx.session, route), ctx.links,
                      include_summary=include_summary)


@router.post("/orders/track", status_code=201, response_model=RouteRead,
             responses=TRACK_ERRORS)
def track_orders(body: TrackRequest, account: CurrentAccount, session: WriteSession,
                 settings: SettingsDep, travel: Travel,
                 geocoder: GeocoderDep) -> dict[str, Any]:
    """Create orders and a route and start tracking at once, or start an existing route."""
    ctx = _ctx(session, account, settings, travel)
    return _full(ctx, track.track(ctx, body, geocoder=geocoder))


@router.get("/orders/estimate", status_code=201, response_model=EstimateResponse,
            responses=ESTIMATE_ERRORS)
def estimate(account: CurrentAccount, session: ReadSession, settings: SettingsDep,
             travel: Travel, ops_group_handle: Annotated[Text, Query(min_length=1)],
             orders: Annotated[Text, Query(min_length=2)]) -> dict[str, Any]:
    """Estimate a route through the given orders in the given sequence (201, as HyperTrack)."""
    ctx = _ctx(session, account, settings, travel)
    body, sequence = track.estimate_sequence(ctx, ops_group_handle, track.refs_from_query(orders))
    return {"estimate": body, "orders": [order_wire(o, ctx.links) for o in sequence]}


@router.get("/orders/routes/", response_model=RoutePage, responses=ERRORS_401_422)
def list_routes(filters: Annotated[RouteFilters, Query()],
                account: CurrentAccount, session: ReadSession, settings: SettingsDep,
                travel: Travel, geocoder: GeocoderDep) -> dict[str, Any]:
    """List routes with the filters of contract section 2.6."""
    if filters.region_filter:
        require_for_region_filter(geocoder, "query")
    ctx = _ctx(session, account, settings, travel)
    rows, token = track.list_routes(ctx, filters)
    grouped = repository.routes_orders(session, rows)
    routes = [route_wire(r, grouped[r.route_handle], ctx.links, full=False)
              for r in rows]
    if filters.send_outage:
        for route in routes:
            route["outage_summary"] = merge_outages(
                o.outage_summary for o in grouped[route["route_handle"]])
    return {"routes": routes, "pagination_token": token}


@router.post("/orders/routes/", status_code=201, response_model=RouteRead, responses=CHANGE_ERRORS)
def create_manual_route(body: RouteCreate, account: CurrentAccount, session: WriteSession,
                        settings: SettingsDep, travel: Travel) -> dict[str, Any]:
    """Create a route from unplanned orders (``optimise`` lets the solver sequence them)."""
    ctx = _ctx(session, account, settings, travel)
    worker = find_worker(ctx, body.worker) if body.worker else None
    group = find_group(ctx, body.ops_group_handle or (worker.ops_group_handle if worker
                                                  else "default"))
    route = create_route(ctx, resolve_refs(ctx, body.orders), group=group, worker=worker,
                         track_mode=body.track_mode.value if body.track_mode else None,
                         metadata=body.metadata, route_handle=body.route_handle,
                         optimise=body.optimise)
    return _full(ctx, route)


@router.get("/orders/routes/{route_handle}", response_model=RouteRead,
            responses=ERRORS_401_404_422)
def get_route_detail(route_handle: str, account: CurrentAccount, session: ReadSession,
                     settings: SettingsDep, travel: Travel,
                     include_summary: bool = True, explain: bool = False) -> dict[str, Any]:
    """A route with its orders (and its actual path and totals with ``include_summary``;
    with ``explain``, what bound it when it was last planned)."""
    ctx = _ctx(session, account, settings, travel)
    route = get_route(ctx, route_handle)
    data = _full(ctx, route, include_summary=include_summary)
    if explain:
        data["bound_by"] = bound_by_wire(route, repository.route_orders(session, route))
    return data


@router.patch("/orders/routes/{route_handle}", response_model=RouteRead, responses=CHANGE_ERRORS)
def patch_route(route_handle: str, body: RouteUpdate, ctx: ChangeContext,
                version: Version = None) -> dict[str, Any]:
    """Change a route's metadata or scheduled start."""
    return _full(ctx, operations.update_route(ctx, route_handle, body, version=version))


@_route_change("add")
def add_to_route(route_handle: str, body: RouteOrders, ctx: ChangeContext,
                 version: Version = None) -> dict[str, Any]:
    """Add unplanned orders to a route."""
    return _full(ctx, operations.add_orders(ctx, route_handle, body.orders,
                                            resequence=body.resequence, version=version))


@_route_change("remove")
def remove_from_route(route_handle: str, body: RouteOrders, ctx: ChangeContext,
                      version: Version = None) -> dict[str, Any]:
    """Remove orders from a route; they become unplanned."""
    return _full(ctx, operations.remove_orders(ctx, route_handle, body.orders, version=version))


@_route_change("resequence")
def resequence_route(route_handle: str, body: RouteOrders, ctx: ChangeContext,
                     version: Version = None) -> dict[str, Any]:
    """Set the sequence of a route's open orders."""
    return _full(ctx, operations.resequence_orders(ctx, route_handle, body.orders,
                                                   version=version))


@_route_change("optimise")
def optimise_route(route_handle: str, ctx: ChangeContext,
                   version: Version = None) -> dict[str, Any]:
    """Let the solver re-sequence the stops not yet reached."""
    return _full(ctx, operations.optimise_route(ctx, route_handle, version=version))


@_route_change("reassign")
def reassign_route(route_handle: str, body: RouteReassign, ctx: ChangeContext,
                   version: Version = None) -> dict[str, Any]:
    """Give a route to another worker or device."""
    return _full(ctx, operations.reassign_route(ctx, route_handle, body, version=version))


@_route_change("complete")
def complete_route(route_handle: str, ctx: ChangeContext,
                   version: Version = None) -> dict[str, Any]:
    """Complete a route (its unfinished orders are cancelled); 409 when already completed."""
    return _full(ctx, operations.complete_route(ctx, route_handle, version=version))


@router.get("/orders/estimated-routes/{estimated_route_id}", response_model=EstimatedRouteRead,
            responses=ERRORS_401_404_422)
def get_estimated_route(estimated_route_id: str, account: CurrentAccount,
                        session: ReadSession) -> dict[str, Any]:
    """The estimated drive behind a ``first_eta``, ``eta_change`` or ``n_minutes_away`` webhook."""
    return estimated.get(session, account.account_id, estimated_route_id)


@router.get("/orders/{order_handle}/candidate_workers", response_model=CandidateWorkers,
            responses=ERRORS_401_404_422)
def get_candidate_workers(
    order_handle: str, account: CurrentAccount, session: ReadSession, settings: SettingsDep,
    travel: Travel, profile_filter: Annotated[Text | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=candidates.MAX_LIMIT)] = 10,
    skip_already_assigned_worker: bool = False, allow_ongoing_order: bool = False,
    type: OrderType | None = None, type_index: Annotated[int | None, Query(ge=0)] = None,
    fulfillment_attempt: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Workers who could take the order, cheapest insertion into their open route first."""
    profile = candidates.parse_profile_filter(profile_filter)
    order = order_service.find_order(
        session, account.account_id, order_handle, type=type.value if type else None,
        type_index=type_index, fulfillment_attempt=fulfillment_attempt)
    ctx = _ctx(session, account, settings, travel)
    return {"candidate_workers": candidates.candidate_workers(
        ctx, order, profile_filter=profile, limit=limit,
        skip_already_assigned_worker=skip_already_assigned_worker,
        allow_ongoing_order=allow_ongoing_order)}


@router.post("/orders/{order_handle}/reassign", response_model=OrderDetail, responses=CHANGE_ERRORS)
def reassign_order(order_handle: str, body: OrderReassign, account: CurrentAccount,
                   session: WriteSession, settings: SettingsDep, travel: Travel,
                   type: OrderType | None = None,
                   type_index: Annotated[int | None, Query(ge=0)] = None,
                   fulfillment_attempt: Annotated[int | None, Query(ge=0)] = None,
                   ) -> dict[str, Any]:
    """Move an order to another worker's route (its cheapest feasible position)."""
    ctx = _ctx(session, account, settings, travel)
    # The selector comes as query parameters (as on every order action) or in the body.
    kind = body.order_type or type
    order = order_service.find_order(
        session, account.account_id, order_handle,
        type=kind.value if kind else None,
        type_index=body.type_index if body.type_index is not None else type_index,
        fulfillment_attempt=fulfillment_attempt,
    )
    order = track.reassign_order(ctx, order, body)
    session.flush()
    return order_detail_wire(order, ctx.links,
                             order_service.timeline(session, order),
                             tasks=tasks_by_order(session, [order])[order.id])
