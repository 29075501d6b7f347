"""Candidate workers for an order (contract 2.4): who could take it, cheapest insertion first."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import invalid_field
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.worker import Worker
from routekeeper.orders.states import OrderStatus
from routekeeper.routes import repository
from routekeeper.routes.context import RouteContext
from routekeeper.routes.estimates import estimate_route
from routekeeper.routes.locations import returns_to_start, start_location
from routekeeper.routes.sequencing import insert_cheapest
from routekeeper.routes.service import leaves_at, split_sequence
from routekeeper.routes.stops import point_wire, stop_input
from routekeeper.travel.base import LonLat

MAX_LIMIT = 100


@dataclass(frozen=True)
class Candidate:
    """One worker with the extra distance the order would cost them and where it would go."""

    worker: Worker
    extra_m: float
    order_start: LonLat | None
    route: dict[str, Any] | None


def parse_profile_filter(raw: str | None) -> dict[str, Any]:
    """The ``profile_filter`` query parameter as a JSON object, or a 422."""
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise invalid_field("query", "profile_filter", "Not a valid JSON object.")
    return value


def _eligible(worker: Worker, order: Order, profile: dict[str, Any]) -> bool:
    """Whether the worker matches the profile filter and has every skill the order needs."""
    worker_profile = worker.profile or {}
    if any(worker_profile.get(key) != value for key, value in profile.items()):
        return False
    return set(order.product_type or []) <= set(worker.product_types or [])


def _candidate(ctx: RouteContext, group: OpsGroup, worker: Worker, order: Order) -> Candidate:
    """The worker ranked by the cheapest feasible insertion into their open route, or by the
    distance from their start to the order when they have none."""
    start = start_location(ctx.session, group, worker, live=ctx.live)
    target: LonLat | None = None
    if order.destination_lon is not None and order.destination_lat is not None:
        target = (order.destination_lon, order.destination_lat)
    route = repository.active_route_of_worker(ctx.session, ctx.account_id, worker.worker_handle,
                                              ops_group_handle=group.ops_group_handle)
    if target is None:
        return Candidate(worker, math.inf, start, None)
    if route is None:
        extra = math.inf if start is None else ctx.travel.leg(start, target).distance_m
        return Candidate(worker, extra, start, None)
    sequence = [o for o in repository.route_orders(ctx.session, route) if o.id != order.id]
    settled, open_, _disabled = split_sequence(sequence)
    stops = [stop_input(o) for o in open_]
    depart_at = leaves_at(route, utcnow())
    back = returns_to_start(group)
    placed = insert_cheapest(stops, stop_input(order), first_free=0, start=start,
                             depart_at=depart_at, travel=ctx.travel, return_to_start=back)
    position = next(i for i, s in enumerate(placed) if s.key == order.id)
    order_start = placed[position - 1].location if position > 0 else start
    where = {"route_handle": route.route_handle, "index": len(settled) + position}
    if not stops:
        # Nothing open on the route: ranked like a worker without one.
        extra = math.inf if start is None else ctx.travel.leg(start, target).distance_m
        return Candidate(worker, extra, order_start, where)
    before = estimate_route(start=start, stops=stops, depart_at=depart_at, travel=ctx.travel,
                            return_to_start=back).distance_m
    after = estimate_route(start=start, stops=placed, depart_at=depart_at, travel=ctx.travel,
                           return_to_start=back).distance_m
    return Candidate(worker, after - before, order_start, where)


def candidate_workers(ctx: RouteContext, order: Order, *, profile_filter: dict[str, Any],
                      limit: int, skip_already_assigned_worker: bool,
                      allow_ongoing_order: bool) -> list[dict[str, Any]]:
    """The available, skilled workers of the order's ops group, cheapest insertion first."""
    if order.status == OrderStatus.ONGOING.value and not allow_ongoing_order:
        raise invalid_field("query", "allow_ongoing_order",
                            f"Order {order.order_handle} is ongoing; pass "
                            "allow_ongoing_order=true to get candidates for it.")
    group = ctx.session.get(OpsGroup, (ctx.account_id, order.ops_group_handle))
    if group is None:
        return []
    workers = ctx.session.scalars(
        select(Worker).where(Worker.account_id == ctx.account_id,
                             Worker.ops_group_handle == order.ops_group_handle,
                             Worker.deleted_at.is_(None), Worker.available.is_(True))
        .order_by(Worker.worker_handle)
    )
    candidates = [
        _candidate(ctx, group, worker, order) for worker in workers
        if _eligible(worker, order, profile_filter)
        and not (skip_already_assigned_worker and worker.worker_handle == order.worker_handle)
    ]
    candidates.sort(key=lambda c: (c.extra_m, c.worker.worker_handle))
    return [{"worker_handle": c.worker.worker_handle, "profile": c.worker.profile or {},
             "order_start_location": point_wire(c.order_start), "route": c.route}
            for c in candidates[:limit]]


class CandidateRoute(BaseModel):
    """Where on a worker's open route the order would go."""

    route_handle: str
    index: int


class CandidateWorker(BaseModel):
    """One suggested worker."""

    worker_handle: str
    profile: dict[str, Any] | None = None
    order_start_location: dict[str, Any] | None = None
    route: CandidateRoute | None = None


class CandidateWorkers(BaseModel):
    """``GET /orders/{order_handle}/candidate_workers``."""

    candidate_workers: list[CandidateWorker]
