"""Starting routes (``POST /orders/track``), order reassignment and sequence estimates."""

from __future__ import annotations

import json
from typing import Any

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, invalid_field
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders import service as orders
from routekeeper.orders.states import TERMINAL, OrderStatus
from routekeeper.routes import repository
from routekeeper.routes.estimates import estimate_route
from routekeeper.routes.filters import RouteFilterFields
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.operations import _first_free
from routekeeper.routes.schemas import OrderReassign, OrderRef, TrackRequest
from routekeeper.routes.sequencing import insert_cheapest
from routekeeper.routes.service import (
    RouteContext,
    _assign_order,
    _bump,
    _group,
    _point,
    _resequence,
    _route_event,
    _start_order,
    _stop,
    create_route,
    find_worker,
    get_route,
    refresh_estimates,
    resolve_refs,
    worker_for_device,
)


def _track_error(title: str) -> CodedError:
    return CodedError(400, "validation_error", title, None)


def start_route(ctx: RouteContext, route: Route, *, track_mode: str,
                device_id: str | None = None) -> Route:
    """Start tracking a route: route ``tracking``, its open orders ``ongoing``."""
    if route.status == "tracking":
        raise _track_error("Route already tracking")
    if route.status == "completed":
        raise _track_error("Route already completed")
    if route.worker_handle is None and device_id is None and route.device_id is None:
        raise _track_error("Route can not be tracked")
    now = utcnow()
    if device_id is not None:
        worker = worker_for_device(ctx, device_id)
        if route.worker_handle not in (None, worker.worker_handle):
            raise _track_error("Route can not be tracked")
        route.worker_handle = worker.worker_handle
        route.device_id = device_id
    route.status = "tracking"
    route.track_mode = track_mode
    route.started_at = now
    route.assigned_at = route.assigned_at or now
    sequence = repository.route_orders(ctx.session, route)
    for order in sequence:
        if order.status in TERMINAL or order.status == OrderStatus.DISABLED.value:
            continue
        _assign_order(ctx, route, order, now)
        if order.started_at is None:
            _start_order(ctx, route, order, now)
    _bump(ctx, route, now, event=None)
    _route_event(ctx, route, "started")
    refresh_estimates(ctx, route, sequence)
    for order in sequence:
        if order.estimate and order.status == OrderStatus.ONGOING.value:
            order.estimate["initial_arrive_at"] = (
                order.estimate.get("initial_arrive_at") or order.estimate.get("arrive_at")
            )
    return route


def track(ctx: RouteContext, body: TrackRequest) -> Route:
    """``POST /orders/track``: start an existing route, or create orders and a route and
    start it at once."""
    if body.route_handle:
        route = repository.get_route(ctx.session, ctx.account_id, body.route_handle, lock=True)
        if route is None:
            raise CodedError(404, "route_not_found", "Route does not exist",
                             {"description": f"Route not found for handle {body.route_handle}"})
        if body.version is not None and body.version != route.version:
            raise CodedError(409, "version_conflict", "Route was modified concurrently",
                             {"current_version": route.version})
        return start_route(ctx, route, track_mode=body.track_mode.value,
                           device_id=body.device_id)
    if not body.orders:
        raise invalid_field("json", "orders", "orders is required when route_handle is absent.")
    if body.worker:
        worker = find_worker(ctx, body.worker)
        if body.device_id and body.device_id not in (worker.device_ids or []):
            worker_for_device(ctx, body.device_id)
    elif body.device_id:
        worker = worker_for_device(ctx, body.device_id)
    else:
        raise invalid_field("json", "worker_handle", "worker_handle or device_id is required.")
    group = _group(ctx, body.ops_group_handle or worker.ops_group_handle or "default")
    # A track order may omit scheduled_at: delay is then measured against the first ETA.
    created = [
        orders.new_order(ctx.session, ctx.account_id, item, plan_mode="manual", group=group)
        for item in body.orders
    ]
    ctx.session.flush()
    spec = body.route
    route = create_route(
        ctx, created, group=group, worker=worker, device_id=body.device_id,
        track_mode=body.track_mode.value, metadata=spec.metadata if spec else None,
        route_handle=spec.route_handle if spec else None,
    )
    return start_route(ctx, route, track_mode=body.track_mode.value)


def reassign_order(ctx: RouteContext, order: Order, body: OrderReassign) -> Order:
    """Move an order to the worker's open route at its cheapest feasible position, or to a
    new route for that worker."""
    if order.status in TERMINAL:
        raise CodedError(409, "invalid_transition",
                         f"Cannot reassign an order that is {order.status}", None)
    worker = find_worker(ctx, body.worker)
    now = utcnow()
    old = get_route(ctx, order.route_handle, lock=True) if order.route_handle else None
    if old is not None and old.worker_handle == worker.worker_handle:
        return order
    if old is not None:
        order.route_handle = None
        order.route_sequence = None
        ctx.session.flush()
        remaining = repository.route_orders(ctx.session, old)
        _resequence(remaining)
        _bump(ctx, old, now)
        refresh_estimates(ctx, old, remaining)
    target = repository.active_route_of_worker(ctx.session, ctx.account_id, worker.worker_handle)
    if target is None:
        group = _group(ctx, body.ops_group_handle or worker.ops_group_handle)
        if order.status != OrderStatus.UNPLANNED.value:
            order.status = OrderStatus.UNPLANNED.value
        create_route(ctx, [order], group=group, worker=worker)
        return order
    target = get_route(ctx, target.route_handle, lock=True)
    group = _group(ctx, target.ops_group_handle)
    sequence = [o for o in repository.route_orders(ctx.session, target)]
    open_stops = [_stop(o) for o in sequence if o.status not in TERMINAL]
    settled = [o for o in sequence if o.status in TERMINAL]
    by_id = {o.id: o for o in [*sequence, order]}
    stops = insert_cheapest(
        open_stops, _stop(order), first_free=_first_free([by_id[s.key] for s in open_stops]),
        start=start_location(ctx.session, group, worker), depart_at=now, travel=ctx.travel,
        return_to_start=returns_to_start(group),
    )
    order.route_handle = target.route_handle
    order.plan_id = target.plan_id
    order.planned_at = order.planned_at or now
    if order.status == OrderStatus.UNPLANNED.value:
        order.status = OrderStatus.PLANNED.value
    _assign_order(ctx, target, order, now)
    new_sequence = settled + [by_id[s.key] for s in stops]
    _resequence(new_sequence)
    _bump(ctx, target, now)
    refresh_estimates(ctx, target, new_sequence)
    return order


def estimate_sequence(
    ctx: RouteContext, ops_group_handle: str, refs: list[OrderRef]
) -> tuple[dict[str, Any], list[Order]]:
    """``GET /orders/estimate``: estimate the given sequence without changing anything."""
    group = _group(ctx, ops_group_handle)
    sequence = resolve_refs(ctx, refs)
    stops = [_stop(o) for o in sequence]
    start = start_location(ctx.session, group, None)
    now = utcnow()
    estimate = estimate_route(start=start, stops=stops, depart_at=now, travel=ctx.travel,
                              return_to_start=returns_to_start(group))
    by_key = {s.key: s for s in estimate.stops}
    for order in sequence:
        stop = by_key[order.id]
        # Read-only: the estimate is put on the objects for the response and never flushed.
        ctx.session.expunge(order)
        order.estimate = {"start_by": format_ts(stop.start_by),
                          "arrive_at": format_ts(stop.arrive_at),
                          "distance": stop.distance_m, "duration": stop.duration_s}
    body = {
        "start_by": format_ts(estimate.start_by), "distance": estimate.distance_m,
        "duration": estimate.duration_s,
        "polyline": {"type": "LineString",
                     "coordinates": [[p[0], p[1]] for p in estimate.polyline]},
        "start_location": _point(estimate.start_location),
        "end_location": _point(estimate.end_location),
    }
    return body, sequence


def list_routes(
    ctx: RouteContext, filters: RouteFilterFields
) -> tuple[list[Route], str | None]:
    """One page of filtered routes and the next page's token."""
    fingerprint = filters.fingerprint()
    secret = ctx.settings.secret_key
    after = None
    if filters.pagination_token:
        key = decode_token(secret, filters.pagination_token, fingerprint)
        try:
            after = (parse_ts(key[0]), str(key[1]))
        except (ValueError, IndexError) as exc:
            raise invalid_field("query", "pagination_token", "Not a valid pagination token.") \
                from exc
    rows = repository.page(ctx.session, repository.filtered(ctx.account_id, filters),
                           descending=filters.sort_direction.value == "desc", after=after,
                           limit=filters.limit + 1)
    token = None
    if len(rows) > filters.limit:
        rows = rows[: filters.limit]
        token = encode_token(secret, [format_ts(rows[-1].created_at), rows[-1].route_handle],
                             fingerprint)
    return rows, token


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
