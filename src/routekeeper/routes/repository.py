"""SQL for routes: locked lookups and the filtered keyset listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, cast, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.routes.filters import DATE_STEMS, WINDOW_STEMS, RouteFilterFields


def get_route(session: Session, account_id: str, route_handle: str, *, lock: bool) -> Route | None:
    """A route by handle; ``lock`` takes a row lock (PostgreSQL) for the transaction."""
    return session.get(Route, (account_id, route_handle), with_for_update=lock or None)


def lock_order(session: Session, order: Order) -> Order:
    """Re-read an order under a row lock so concurrent route changes serialise on it."""
    session.refresh(order, with_for_update=True)
    return order


def route_orders(session: Session, route: Route) -> list[Order]:
    """The orders on a route, in sequence."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.account_id == route.account_id, Order.route_handle == route.route_handle)
            .order_by(Order.route_sequence, Order.created_at)
        )
    )


def routes_orders(session: Session, routes: list[Route]) -> dict[str, list[Order]]:
    """The orders of several routes of one account in one query, by route handle."""
    if not routes:
        return {}
    rows = session.scalars(
        select(Order)
        .where(Order.account_id == routes[0].account_id,
               Order.route_handle.in_([r.route_handle for r in routes]))
        .order_by(Order.route_sequence, Order.created_at)
    )
    grouped: dict[str, list[Order]] = {r.route_handle: [] for r in routes}
    for order in rows:
        assert order.route_handle is not None
        grouped[order.route_handle].append(order)
    return grouped


def active_route_of_worker(session: Session, account_id: str, worker_handle: str) -> Route | None:
    """The worker's most recent route that is not completed."""
    return session.scalars(
        select(Route)
        .where(Route.account_id == account_id, Route.worker_handle == worker_handle,
               Route.status != "completed")
        .order_by(Route.created_at.desc())
        .limit(1)
    ).first()


def _metadata_clause(key: str, value: Any) -> ColumnElement[bool]:
    item = Route.metadata_[key]
    if isinstance(value, bool):
        return item.as_boolean() == value
    if isinstance(value, (int, float)):
        return item.as_float() == float(value)
    return item.as_string() == str(value)


def filtered(account_id: str, filters: RouteFilterFields) -> Select[Any]:
    """The SELECT of the account's routes matching ``filters``."""
    query = select(Route).where(Route.account_id == account_id)
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(Route.status.in_(filters.statuses))
    if filters.ops_groups:
        conditions.append(Route.ops_group_handle.in_(filters.ops_groups))
    if filters.worker:
        conditions.append(Route.worker_handle == filters.worker)
    for name in ("plan_mode", "plan_id", "device_id"):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(getattr(Route, name) == value)
    if filters.track_mode is not None:
        conditions.append(Route.track_mode == filters.track_mode.value)
    if filters.search_term:
        pattern = f"%{filters.search_term.lower()}%"
        conditions.append(or_(
            Route.route_handle.ilike(pattern), Route.ops_group_handle.ilike(pattern),
            Route.worker_handle.ilike(pattern), cast(Route.metadata_, String).ilike(pattern),
        ))
    for key, value in filters.metadata_filter.items():
        conditions.append(_metadata_clause(key, value))
    for stem in DATE_STEMS:
        column = getattr(Route, stem)
        day = filters.day(f"{stem}_date")
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            conditions.append(and_(column >= start, column < start + timedelta(days=1)))
    for stem in WINDOW_STEMS:
        column = getattr(Route, stem)
        lo, hi = filters.instant(f"{stem}_from"), filters.instant(f"{stem}_to")
        if lo is not None:
            conditions.append(column >= lo)
        if hi is not None:
            conditions.append(column < hi)
    return query.where(*conditions)


def page(
    session: Session, query: Select[Any], *, descending: bool,
    after: tuple[datetime, str] | None, limit: int,
) -> list[Route]:
    """One keyset page ordered by (created_at, route_handle)."""
    if after is not None:
        created, handle = after
        if descending:
            query = query.where(or_(Route.created_at < created,
                                    and_(Route.created_at == created, Route.route_handle < handle)))
        else:
            query = query.where(or_(Route.created_at > created,
                                    and_(Route.created_at == created, Route.route_handle > handle)))
    order = (Route.created_at.desc(), Route.route_handle.desc()) if descending else (
        Route.created_at.asc(), Route.route_handle.asc())
    return list(session.scalars(query.order_by(*order).limit(limit)))
