"""Starting routes (``POST /orders/track``), order reassignment and sequence estimates."""

from __future__ import annotations

import json
from typing import Any

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, invalid_field
from routekeeper.core.pagination import cut_page, page_keys, time_position
from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.geocoding.service import Geocoder
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders import service as orders
from routekeeper.orders.states import TERMINAL, OrderStatus
from routekeeper.routes import repository
from routekeeper.routes.context import (
    RouteContext,
    device_of,
    find_group,
    find_worker,
    get_route,
    resolve_refs,
    worker_for_device,
)
from routekeeper.routes.days import allows, route_day
from routekeeper.routes.devices import choose_device
from routekeeper.routes.estimates import estimate_route, first_leg_s
from routekeeper.routes.filters import RouteFilterFields
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.schemas import DeviceSwitchMode, OrderReassign, OrderRef, TrackRequest
from routekeeper.routes.sequencing import departure
from routekeeper.routes.service import create_route, edit
from routekeeper.routes.states import RouteStatus
from routekeeper.routes.stops import estimate_wire, stop_estimate_wire, stop_input
from routekeeper.tracking.engine.risks import DELAYED_FROM_SCHEDULED_AT


def _track_error(title: str) -> CodedError:
    return CodedError(400, "validation_error", title, None)


def _tracked_by(ctx: RouteContext, route: Route, sequence: list[Order], *,
                device_id: str | None, device_switch_mode: str) -> None:
    """Give a route about to start the worker and device that will track it."""
    if device_id is not None:
        worker = worker_for_device(ctx, device_id)
        if route.worker_handle not in (None, worker.worker_handle):
            raise _track_error("Route can not be tracked")
        route.worker_handle = worker.worker_handle
        route.device_id = device_id
    elif route.worker_handle is not None:
        # Tracked by worker: their linked device as the switch mode says (routes/devices),
        # also one registered after the route was planned.
        destination = next(((o.destination_lon, o.destination_lat) for o in sequence
                            if o.status not in TERMINAL and o.destination_lon is not None
                            and o.destination_lat is not None), None)
        route.device_id = choose_device(
            repository.worker_devices(ctx.session, ctx.account_id, route.worker_handle),
            mode=device_switch_mode, current=route.device_id, destination=destination)


def start_route(ctx: RouteContext, route: Route, *, track_mode: str,
                device_id: str | None = None,
                device_switch_mode: str = DeviceSwitchMode.LOGIN.value,
                created: bool = False) -> Route:
    """Start tracking a route: route ``tracking``, its open orders ``ongoing``. A route
    ``created`` by the same request keeps version 1 (HyperTrack's track example)."""
    if route.status == RouteStatus.TRACKING:
        raise _track_error("Route already tracking")
    if route.status == RouteStatus.COMPLETED:
        raise _track_error("Route already completed")
    if route.worker_handle is None and device_id is None and route.device_id is None:
        raise _track_error("Route can not be tracked")
    with edit(ctx, route, events=("started",), bump=not created) as change:
        sequence = change.sequence
        _tracked_by(ctx, route, sequence, device_id=device_id,
                    device_switch_mode=device_switch_mode)
        route.status = RouteStatus.TRACKING.value
        route.track_mode = track_mode
        route.started_at = change.now
        route.assigned_at = route.assigned_at or change.now
        for order in sequence:
            if order.status in TERMINAL or order.status == OrderStatus.DISABLED.value:
                continue
            order.device_switch_mode = device_switch_mode
            change.assign(order)
    for order in sequence:
        if order.estimate and order.status == OrderStatus.ONGOING.value:
            # The first ETA once tracking starts: later delays are measured against it.
            order.estimate = {**order.estimate, "initial_arrive_at": (
                order.estimate.get("initial_arrive_at") or order.estimate.get("arrive_at"))}
    return route


def track(ctx: RouteContext, body: TrackRequest, *, geocoder: Geocoder | None = None) -> Route:
    """``POST /orders/track``: start an existing route, or create orders and a route and
    start it at once."""
    if body.route_handle:
        route = repository.get_route(ctx.session, ctx.account_id, body.route_handle, lock=True)
        if route is None:
            raise CodedError(404, "route_not_found", "Route does not exist",
                             {"description": f"Route not found for handle {body.route_handle}"})
        if body.version is not None and body.version != route.version:
            raise CodedError(409, "version_conflict", "Route was modified concurrently",
                             {"description": f"Route {route.route_handle} is at version "
                                             f"{route.version}.",
                              "current_version": route.version})
        return start_route(ctx, route, track_mode=body.track_mode.value,
                           device_id=body.device_id,
                           device_switch_mode=body.device_switch_mode.value)
    if not body.orders:
        raise invalid_field("json", "orders", "orders is required when route_handle is absent.")
    if body.worker:
        worker = find_worker(ctx, body.worker)
        device = device_of(ctx, worker, body.device_id)
    elif body.device_id:
        worker = worker_for_device(ctx, body.device_id)
        device = body.device_id
    else:
        raise invalid_field("json", "worker_handle", "worker_handle or device_id is required.")
    group = find_group(ctx, body.ops_group_handle or worker.ops_group_handle or "default")
    orders.check_new(ctx.session, ctx.account_id, body.orders)
    # A track order may omit scheduled_at: delay is then measured against the first ETA.
    resolved = orders.resolve_destinations(ctx.session, ctx.account_id, body.orders,
                                           geocoder=geocoder)
    orders.check_radius(group, body.orders, resolved)
    created = [
        orders.new_order(ctx.session, ctx.account_id, item, plan_mode="manual", group=group,
                         resolved=where)
        for item, where in zip(body.orders, resolved, strict=True)
    ]
    ctx.session.flush()
    orders.with_regions(ctx.session, ctx.account_id, created, geocoder)
    spec = body.route
    route = create_route(
        ctx, created, group=group, worker=worker, device_id=device,
        track_mode=body.track_mode.value, metadata=spec.metadata if spec else None,
        route_handle=spec.route_handle if spec else None,
    )
    return start_route(ctx, route, track_mode=body.track_mode.value,
                       device_id=body.device_id,
                       device_switch_mode=body.device_switch_mode.value, created=True)


def reassign_order(ctx: RouteContext, order: Order, body: OrderReassign) -> Order:
    """Move an order to the worker's open route at its cheapest feasible position, or to a
    new route for that worker."""
    if order.status in TERMINAL:
        raise CodedError(409, "invalid_transition",
                         f"Cannot reassign an order that is {order.status}",
                         {"description": f"Order {order.order_handle} is {order.status}."})
    worker = find_worker(ctx, body.worker)
    # A worker in several ops groups: the caller names the group whose route is meant.
    group_handle = find_group(ctx, body.ops_group_handle).ops_group_handle \
        if body.ops_group_handle else None
    now = utcnow()
    found = _route_for_window(ctx, order, worker.worker_handle, group_handle)
    # Routes first, by handle, then the order: the lock order of every route change, so
    # opposite moves between two routes wait for each other instead of deadlocking.
    handles = sorted({h for h in (order.route_handle, found and found.route_handle) if h})
    routes = {h: get_route(ctx, h, lock=True) for h in handles}
    before = order.route_handle
    repository.lock_order(ctx.session, order)
    if order.route_handle != before or order.status in TERMINAL:
        raise CodedError(409, "version_conflict", "Order was modified concurrently",
                         {"description": f"Order {order.order_handle} changed; retry."})
    old = routes.get(order.route_handle) if order.route_handle else None
    target = routes.get(found.route_handle) if found else None
    if old is not None and old.worker_handle == worker.worker_handle:
        return order
    if old is not None:
        with edit(ctx, old) as source:
            source.detach(order, record=False)  # the move is recorded by the attach
    else:
        order.status = OrderStatus.UNPLANNED.value
    if target is None:
        # No route of a day the window allows: a new one, leaving for the window's day.
        group = find_group(ctx, group_handle or worker.ops_group_handle)
        start = order.scheduled_after if order.scheduled_after and order.scheduled_after > now \
            else None
        create_route(ctx, [order], group=group, worker=worker, scheduled_start_at=start)
    else:
        with edit(ctx, target) as destination:
            destination.attach(order, cheapest=True)
    _flag_if_late(order)
    return order


def _route_for_window(ctx: RouteContext, order: Order, worker_handle: str,
                      group_handle: str | None) -> Route | None:
    """The worker's open route of a day the order's window allows (the newest such), or
    None: an order due on the 5th never joins the route of the 6th."""
    for route in repository.open_routes_of_worker(ctx.session, ctx.account_id, worker_handle,
                                                  ops_group_handle=group_handle):
        if route.route_handle == order.route_handle:
            return route
        timezone = find_group(ctx, route.ops_group_handle).timezone or "UTC"
        day = route_day(route, repository.route_orders(ctx.session, route), timezone)
        if allows(order, day, timezone):
            return route
    return None


def _flag_if_late(order: Order) -> None:
    """At risk when even its best place brings the order after its window closes."""
    arrive = (order.estimate or {}).get("arrive_at")
    if order.scheduled_at is None or arrive is None:
        return
    if parse_ts(arrive) > order.scheduled_at:
        order.risk_status = True
        order.risks = {**(order.risks or {}), DELAYED_FROM_SCHEDULED_AT: "red"}


def estimate_sequence(
    ctx: RouteContext, ops_group_handle: str, refs: list[OrderRef]
) -> tuple[dict[str, Any], list[Order]]:
    """``GET /orders/estimate``: estimate the given sequence without changing anything."""
    group = find_group(ctx, ops_group_handle)
    sequence = resolve_refs(ctx, refs, lock=False, location="query")
    stops = [stop_input(o) for o in sequence]
    start = start_location(ctx.session, group, None, live=ctx.live)
    first_leg = first_leg_s(ctx.travel, start, stops)
    # The departure a new route through these orders would get, so the two agree.
    depart_at = departure(stops, scheduled_start_at=None, now=utcnow(), first_leg_s=first_leg)
    estimate = estimate_route(start=start, stops=stops, depart_at=depart_at, travel=ctx.travel,
                              return_to_start=returns_to_start(group))
    by_key = {s.key: s for s in estimate.stops}
    for order in sequence:
        stop = by_key[order.id]
        # Read-only: the estimate is put on detached objects for the response, never saved.
        ctx.session.expunge(order)
        order.estimate = stop_estimate_wire(stop)
    return estimate_wire(estimate), sequence


def list_routes(
    ctx: RouteContext, filters: RouteFilterFields
) -> tuple[list[Route], str | None]:
    """One page of filtered routes and the next page's token."""
    fingerprint = filters.fingerprint()
    secret = page_keys(ctx.settings.signing_keys, "routes", ctx.account_id)
    after = time_position(secret, filters.pagination_token, fingerprint)
    dialect = ctx.session.get_bind().dialect.name
    rows = repository.page(ctx.session, repository.filtered(ctx.account_id, filters,
                                                            dialect=dialect),
                           descending=filters.sort_direction.value == "desc", after=after,
                           limit=filters.limit + 1)
    return cut_page(rows, filters.limit, secret, fingerprint,
                    lambda last: [format_ts(last.created_at), last.route_handle])


def refs_from_query(raw: str) -> list[OrderRef]:
    """Parse the ``orders`` JSON query parameter of ``GET /orders/estimate``."""
    try:
        data = json.loads(raw)
        if not isinstance(data, list) or not data:
            raise ValueError
        return [OrderRef.model_validate(item) for item in data]
    except ValueError as exc:
        raise invalid_field("query", "orders",
                            "Must be a JSON list of {order_handle, type?, type_index?}.") from exc
