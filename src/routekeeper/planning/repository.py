"""SQL for plans: the filtered keyset listing and summaries aggregated in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from routekeeper.models.order import Order
from routekeeper.models.plan import Plan
from routekeeper.models.route import Route


def list_plans(
    session: Session,
    account_id: str,
    *,
    fulfillment_date: str | None,
    ops_group_handle: str | None,
    status: str | None,
    descending: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Plan]:
    """One keyset page of plans ordered by (created_at, plan_id)."""
    query = select(Plan).where(Plan.account_id == account_id)
    if fulfillment_date:
        query = query.where(Plan.fulfillment_date == fulfillment_date)
    if ops_group_handle:
        query = query.where(Plan.ops_group_handle == ops_group_handle)
    if status:
        query = query.where(Plan.status == status)
    if after is not None:
        created, plan_id = after
        if descending:
            query = query.where(or_(Plan.created_at < created,
                                    and_(Plan.created_at == created, Plan.plan_id < plan_id)))
        else:
            query = query.where(or_(Plan.created_at > created,
                                    and_(Plan.created_at == created, Plan.plan_id > plan_id)))
    order = (Plan.created_at.desc(), Plan.plan_id.desc()) if descending else (
        Plan.created_at.asc(), Plan.plan_id.asc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def summaries(session: Session, account_id: str, plan_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``PlanSummary`` of each plan, from two grouped queries (never loading orders)."""
    result: dict[str, dict[str, Any]] = {
        pid: {"orders": {"total": 0, "planned": 0, "unplanned": 0, "assigned": 0,
                         "completed": 0, "cancelled": 0},
              "estimate": {"distance": 0, "duration": 0},
              "distance": 0, "duration": 0, "routes": 0, "drivers": 0}
        for pid in plan_ids
    }
    if not plan_ids:
        return result
    finished = Order.status.in_(("completed", "cancelled"))
    order_rows = session.execute(
        select(
            Order.plan_id,
            func.count(),
            _count(Order.route_handle.is_not(None)),
            _count(Order.status == "unplanned"),
            _count(Order.worker_handle.is_not(None)),
            _count(Order.status == "completed"),
            _count(Order.status == "cancelled"),
            func.coalesce(func.sum(case((finished, Order.distance), else_=0)), 0),
            func.coalesce(func.sum(case((finished, Order.duration), else_=0)), 0),
        )
        .where(Order.account_id == account_id, Order.plan_id.in_(plan_ids))
        .group_by(Order.plan_id)
    ).all()
    for pid, total, planned, unplanned, assigned, completed, cancelled, dist, dur in order_rows:
        summary = result[pid]
        summary["orders"] = {"total": total, "planned": int(planned),
                             "unplanned": int(unplanned), "assigned": int(assigned),
                             "completed": int(completed), "cancelled": int(cancelled)}
        summary["distance"] = int(dist or 0)
        summary["duration"] = int(dur or 0)
    route_rows = session.execute(
        select(
            Route.plan_id,
            func.count(),
            func.count(func.distinct(Route.worker_handle)),
            func.coalesce(func.sum(Route.estimate["distance"].as_integer()), 0),
            func.coalesce(func.sum(Route.estimate["duration"].as_integer()), 0),
        )
        .where(Route.account_id == account_id, Route.plan_id.in_(plan_ids))
        .group_by(Route.plan_id)
    ).all()
    for pid, routes, drivers, est_distance, est_duration in route_rows:
        summary = result[pid]
        summary["routes"] = int(routes)
        summary["drivers"] = int(drivers)
        summary["estimate"] = {"distance": int(est_distance or 0),
                               "duration": int(est_duration or 0)}
    return result


def plan_route_rows(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Route]]:
    """The routes of several plans by plan id."""
    grouped: dict[str, list[Route]] = {pid: [] for pid in plan_ids}
    if not plan_ids:
        return grouped
    for route in session.scalars(
        select(Route).where(Route.account_id == account_id, Route.plan_id.in_(plan_ids))
        .order_by(Route.created_at, Route.route_handle)
    ):
        assert route.plan_id is not None
        grouped[route.plan_id].append(route)
    return grouped


def unplanned_rows(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Order]]:
    """The unplanned orders of several plans by plan id."""
    grouped: dict[str, list[Order]] = {pid: [] for pid in plan_ids}
    if not plan_ids:
        return grouped
    for order in session.scalars(
        select(Order).where(Order.account_id == account_id, Order.plan_id.in_(plan_ids),
                            Order.status == "unplanned")
        .order_by(Order.created_at, Order.id)
    ):
        assert order.plan_id is not None
        grouped[order.plan_id].append(order)
    return grouped


