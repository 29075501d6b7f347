"""Route rules: building routes from orders, changing them under a version, starting and
completing them. Nothing here commits; the request's session does, with every order change,
timeline entry and outbox event of the operation.

Concurrency: every mutation locks the route rows first (by handle), then the order rows it
moves (by id), with ``FOR UPDATE`` on PostgreSQL (SQLite writers are serialised by ``BEGIN
IMMEDIATE``); a locked row is re-read, never trusted from earlier in the session. An order
joins a route only while it is ``unplanned`` and on no route, so it is on at most one route.
Anything else that locks both routes and orders must take them in the same order, or two
requests can deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, HttpError, RequestValidationFailed, conflict
from routekeeper.core.fields import check_text
from routekeeper.core.ids import new_id
from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
from routekeeper.orders import service as orders
from routekeeper.orders.states import TERMINAL, OrderStatus
from routekeeper.orders.wire import share_url
from routekeeper.routes import daystops, repository
from routekeeper.routes.estimates import (
    RouteEstimate,
    StopEstimate,
    StopInput,
    estimate_route,
    first_leg_s,
)
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.schemas import OrderRef
from routekeeper.routes.sequencing import departure, optimise_order
from routekeeper.settings import Settings
from routekeeper.travel.base import LonLat, TravelModel
from routekeeper.webhooks.outbox import record_event, record_order_event


@dataclass
class RouteContext:
    """What every route operation needs: the session, the tenant, settings and travel."""

    session: Session
    account_id: str
    settings: Settings
    travel: TravelModel

    @property
    def public_url(self) -> str:
        """The base of absolute links (embed and share URLs)."""
        return self.settings.public_url


def _point(location: LonLat | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"type": "Point", "coordinates": [location[0], location[1]]}


def _stop(order: Order) -> StopInput:
    assert order.destination_lon is not None and order.destination_lat is not None
    return StopInput(
        key=order.id, location=(order.destination_lon, order.destination_lat),
        scheduled_after=order.scheduled_after, scheduled_at=order.scheduled_at,
        service_s=order.expected_service_time or 0,
        windows=tuple((parse_ts(w["after"]), parse_ts(w["before"]))
                      for w in order.time_windows or []),
    )


def _lookup_key(handle: str) -> bool:
    """Whether a handle can name a row at all; others (a NUL from a URL path, say) would be
    database errors on PostgreSQL, so they are simply not found."""
    try:
        check_text(handle)
    except ValueError:
        return False
    return 0 < len(handle) <= 200


def _group(ctx: RouteContext, handle: str) -> OpsGroup:
    group = ctx.session.get(OpsGroup, (ctx.account_id, handle)) if _lookup_key(handle) else None
    if group is None:
        raise CodedError(400, "ops_group_not_defined", f"Ops group {handle} does not exist")
    return group


def find_worker(ctx: RouteContext, handle: str) -> Worker:
    """A worker by handle, or the contract's 404 ``driver_not_found`` / ``driver_deleted``."""
    worker = ctx.session.get(Worker, (ctx.account_id, handle)) if _lookup_key(handle) else None
    if worker is None:
        raise CodedError(404, "driver_not_found", "Worker Not Found",
                         {"description": f"Worker not found for handle {handle}"})
    if worker.deleted_at is not None:
        raise CodedError(404, "driver_deleted", "Worker is deleted",
                         {"description": f"Worker {handle} is deleted; undelete it first"})
    return worker


def worker_for_device(ctx: RouteContext, device_id: str) -> Worker:
    """The live worker a device is linked to, or 404 ``device_not_found``."""
    for worker in ctx.session.query(Worker).filter(
        Worker.account_id == ctx.account_id, Worker.deleted_at.is_(None)
    ):
        if device_id in (worker.device_ids or []):
            return worker
    raise CodedError(404, "device_not_found", "Device could not be found", None)


def device_of(ctx: RouteContext, worker: Worker, device_id: str | None) -> str | None:
    """The device to track ``worker`` with: ``device_id`` when it is one of theirs, else
    their first device; an unknown device is 404, another worker's device 400."""
    if device_id is None:
        return next(iter(worker.device_ids or []), None)
    if device_id not in (worker.device_ids or []):
        owner = worker_for_device(ctx, device_id)
        raise CodedError(400, "driver_not_linked_to_device",
                         "Worker must be linked to a device first",
                         {"description": f"Device {device_id} is linked to worker "
                                         f"{owner.worker_handle}, not {worker.worker_handle}"})
    return device_id


def get_route(ctx: RouteContext, route_handle: str, *, lock: bool = False) -> Route:
    """A route of the account, or 404."""
    route = repository.get_route(ctx.session, ctx.account_id, route_handle, lock=lock) \
        if _lookup_key(route_handle) else None
    if route is None:
        raise HttpError(404, "Route not found",
                        {"description": f"Route not found for handle {route_handle}"})
    return route


def _for_change(ctx: RouteContext, route_handle: str, version: int | None) -> Route:
    route = get_route(ctx, route_handle, lock=True)
    if version is not None and version != route.version:
        raise conflict("version_conflict", "Route was modified concurrently",
                       {"description": f"Route {route_handle} is at version {route.version}; "
                                       f"the request was made against version {version}.",
                        "current_version": route.version})
    return route


def _not_completed(route: Route) -> None:
    if route.status == "completed":
        raise conflict("validation_error", "Route already completed",
                       {"description": f"Route {route.route_handle} is completed"})


def _route_event(ctx: RouteContext, route: Route, value: str, **extra: Any) -> None:
    record_event(
        ctx.session, account_id=ctx.account_id, type="route", value=value,
        device_id=route.device_id, worker_handle=route.worker_handle,
        route_handle=route.route_handle,
        data={"route_handle": route.route_handle, "status": route.status,
              "version": route.version, "plan_id": route.plan_id,
              "ops_group_handle": route.ops_group_handle, **extra},
    )


def _bump(ctx: RouteContext, route: Route, now: datetime, *, event: str | None = "updated") -> None:
    route.version += 1
    route.updated_at = now
    if event:
        _route_event(ctx, route, event)


def resolve_refs(
    ctx: RouteContext, refs: Sequence[OrderRef], *, lock: bool = True,
    location: str = "json", field: str = "orders",
) -> list[Order]:
    """The orders named in a request, in its sequence, locked for the change unless ``lock``
    is false; unknown ones are 404 ``order_not_found``, repeats a 422 at ``location``."""
    found: list[Order] = []
    seen: dict[str, int] = {}
    for index, ref in enumerate(refs):
        try:
            order = orders.find_order(
                ctx.session, ctx.account_id, ref.order_handle,
                type=ref.type.value if ref.type else None, type_index=ref.type_index,
            )
        except HttpError as exc:
            raise CodedError(404, "order_not_found", "Order Not Found",
                             {"description": f"Order not found for handle {ref.order_handle}"}
                             ) from exc
        if order.id in seen:
            raise RequestValidationFailed({location: {
                f"{field}.{index}.order_handle": [f"Repeats {field}.{seen[order.id]}."]}})
        seen[order.id] = index
        found.append(order)
    if lock:
        repository.lock_orders(ctx.session, found)
    return found


def _route_status(route: Route) -> OrderStatus:
    if route.status == "tracking":
        return OrderStatus.ONGOING
    return OrderStatus.ASSIGNED if route.worker_handle else OrderStatus.PLANNED


def _attach(ctx: RouteContext, route: Route, order: Order, now: datetime) -> None:
    """Put an unplanned order on ``route`` (the caller sets its sequence)."""
    if order.status != OrderStatus.UNPLANNED.value or order.route_handle is not None:
        raise conflict(
            "order_not_unplanned", "Only unplanned orders can be added to a route",
            {"description": f"Order {order.order_handle} is {order.status}"
                            + (f" on route {order.route_handle}" if order.route_handle else ""),
             "order_handle": order.order_handle},
        )
    order.route_handle = route.route_handle
    order.plan_id = route.plan_id
    order.planning_failure_reason = None
    order.planned_at = now
    order.updated_at = now
    orders.add_timeline(ctx.session, order, "order_planned", recorded_at=now)
    _assign_order(ctx, route, order, now)


def _assign_order(ctx: RouteContext, route: Route, order: Order, now: datetime) -> None:
    """Give an order on ``route`` the route's worker, device and matching status."""
    target = _route_status(route)
    changed_worker = order.worker_handle != route.worker_handle
    order.worker_handle = route.worker_handle
    order.device_id = route.device_id
    if order.status in (OrderStatus.DISABLED.value,):
        return
    order.status = target.value
    if route.worker_handle and changed_worker:
        order.assigned_at = now
        orders.add_timeline(ctx.session, order, "order_assigned", recorded_at=now,
                            driver_handle=route.worker_handle)
        record_order_event(ctx.session, order, "assigned", recorded_at=now,
                           share_url=share_url(order, ctx.public_url),
                           assigned_at=format_ts(now))
    if target is OrderStatus.ONGOING and order.started_at is None:
        _start_order(ctx, route, order, now)


def _start_order(ctx: RouteContext, route: Route, order: Order, now: datetime) -> None:
    order.status = OrderStatus.ONGOING.value
    order.started_at = now
    order.track_mode = route.track_mode
    orders.add_timeline(ctx.session, order, "order_started", recorded_at=now)
    record_order_event(ctx.session, order, "started", recorded_at=now,
                       share_url=share_url(order, ctx.public_url))


def _resequence(route_orders: Sequence[Order]) -> None:
    for index, order in enumerate(route_orders):
        order.route_sequence = index


def _live(order: Order) -> bool:
    return order.status not in (*TERMINAL, OrderStatus.DISABLED.value)


def leaves_at(route: Route, now: datetime) -> datetime:
    """The departure that sequencing measures windows from: now once the route is being
    driven, else its scheduled start (or now when it has none)."""
    if route.status == "tracking" or route.scheduled_start_at is None:
        return now
    return route.scheduled_start_at


def refresh_estimates(ctx: RouteContext, route: Route, route_orders: Sequence[Order]) -> None:
    """Recompute the route's and its open orders' estimates (disabled orders are left out)."""
    group = _group(ctx, route.ops_group_handle)
    worker = ctx.session.get(Worker, (ctx.account_id, route.worker_handle)) \
        if route.worker_handle else None
    open_orders = [o for o in route_orders if _live(o)]
    start = start_location(ctx.session, group, worker)
    stops = daystops.interleave(route, [_stop(o) for o in open_orders], start)
    now = utcnow()
    first_leg = first_leg_s(ctx.travel, start, stops)
    depart_at = departure(stops, scheduled_start_at=route.scheduled_start_at, now=now,
                          first_leg_s=first_leg) if route.status != "tracking" else now
    estimate = estimate_route(start=start, stops=stops, depart_at=depart_at, travel=ctx.travel,
                              return_to_start=returns_to_start(group))
    route.completion_type = group.route_completion_type
    route.start_by = None if estimate.unreachable_legs else estimate.start_by
    # With nothing left to visit there is no drive to estimate (and no LineString to draw).
    route.estimate = estimate_wire(estimate) if stops else None
    daystops.record(route, estimate)
    by_key = {s.key: s for s in estimate.stops}
    for order in route_orders:
        stop = by_key.get(order.id)
        if stop is None:
            if order.status in TERMINAL:
                continue
            order.estimate = None
            continue
        previous = order.estimate or {}
        order.estimate = {**stop_estimate_wire(stop),
                          "initial_arrive_at": previous.get("initial_arrive_at")}


def stop_estimate_wire(stop: StopEstimate) -> dict[str, Any]:
    """An order's ``estimate`` figures; none for a stop past a leg with no road.

    On a road network it also says how far the destination is from the nearest road
    (``snapped_distance``, metres) and whether that puts it off the network (``off_road``).
    """
    wire: dict[str, Any] = {"start_by": None, "arrive_at": None, "distance": None,
                            "duration": None}
    if stop.reachable:
        wire = {"start_by": format_ts(stop.start_by), "arrive_at": format_ts(stop.arrive_at),
                "distance": stop.distance_m, "duration": stop.duration_s}
    if stop.snapped_m is not None:
        wire.update(snapped_distance=round(stop.snapped_m), off_road=stop.off_road)
    return wire


def estimate_wire(estimate: RouteEstimate) -> dict[str, Any]:
    """``RouteDetailEstimate`` of a route estimate (with which legs are not road legs)."""
    gap = bool(estimate.unreachable_legs)
    wire: dict[str, Any] = {
        # A route with a leg no road joins has no drive to total: say so, invent nothing.
        "start_by": None if gap else format_ts(estimate.start_by),
        "distance": None if gap else estimate.distance_m,
        "duration": None if gap else estimate.duration_s,
        "polyline": {"type": "LineString",
                     "coordinates": [[p[0], p[1]] for p in estimate.polyline]},
        "start_location": _point(estimate.start_location),
        "end_location": _point(estimate.end_location),
    }
    if estimate.on_roads:
        wire["straight_line_legs"] = estimate.straight_legs
        wire["unreachable_legs"] = estimate.unreachable_legs
    return wire


def create_route(
    ctx: RouteContext,
    route_orders: list[Order],
    *,
    group: OpsGroup,
    worker: Worker | None,
    device_id: str | None = None,
    track_mode: str | None = None,
    plan_mode: str = "manual",
    plan_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    route_handle: str | None = None,
    optimise: bool = False,
    scheduled_start_at: datetime | None = None,
) -> Route:
    """Create a route over unplanned orders, in the given sequence (or optimised)."""
    handle = route_handle or new_id()
    if repository.get_route(ctx.session, ctx.account_id, handle, lock=False) is not None:
        raise conflict("duplicate_resource", "Duplicate route found with this ID",
                       {"description": f"Route {handle} already exists"})
    now = utcnow()
    device = device_of(ctx, worker, device_id) if worker else device_id
    route = Route(
        account_id=ctx.account_id, route_handle=handle,
        status="assigned" if worker else "planned", version=1,
        ops_group_handle=group.ops_group_handle, track_mode=track_mode, plan_mode=plan_mode,
        plan_id=plan_id, worker_handle=worker.worker_handle if worker else None,
        device_id=device, metadata_=metadata or {}, created_at=now, updated_at=now,
        planned_at=now, assigned_at=now if worker else None,
        scheduled_start_at=scheduled_start_at,
        created_by={"source": "api", "timestamp": format_ts(now)},
    )
    ctx.session.add(route)
    ctx.session.flush()
    if optimise and len(route_orders) > 1:
        route_orders = _optimised(ctx, route, route_orders, group, worker)
    for order in route_orders:
        _attach(ctx, route, order, now)
    _resequence(route_orders)
    refresh_estimates(ctx, route, route_orders)
    _route_event(ctx, route, "created")
    if worker:
        _route_event(ctx, route, "assigned")
    ctx.session.flush()
    return route


def _optimised(
    ctx: RouteContext, route: Route, movable: list[Order], group: OpsGroup,
    worker: Worker | None,
) -> list[Order]:
    start = start_location(ctx.session, group, worker)
    stops = [_stop(o) for o in movable]
    now = utcnow()
    sequence = optimise_order(
        stops, start=start, depart_at=leaves_at(route, now), travel=ctx.travel,
        return_to_start=returns_to_start(group),
        time_budget_s=min(ctx.settings.planning.time_budget_s, 2.0),
        seed=ctx.settings.planning.seed,
    )
    by_id = {o.id: o for o in movable}
    return [by_id[s.key] for s in sequence]
