"""SQL for routes: locked lookups and the filtered keyset listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.core.pagination import keyset_page
from routekeeper.db.filters import json_match, text_search
from routekeeper.models.device import Device
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.orders.conditions import order_conditions, tracked, workers_with_profile
from routekeeper.routes.filters import DATE_STEMS, WINDOW_STEMS, RouteFilterFields
from routekeeper.routes.states import RouteStatus


def get_route(session: Session, account_id: str, route_handle: str, *, lock: bool) -> Route | None:
    """A route by handle; ``lock`` takes a row lock (PostgreSQL) for the transaction and
    re-reads the row, so a copy loaded earlier in the session cannot hide a newer version."""
    if not lock:
        return session.get(Route, (account_id, route_handle))
    return session.get(Route, (account_id, route_handle), with_for_update=True,
                       populate_existing=True)


def lock_order(session: Session, order: Order) -> Order:
    """Re-read an order under a row lock so concurrent route changes serialise on it."""
    session.refresh(order, with_for_update=True)
    return order


def lock_orders(session: Session, orders: list[Order]) -> None:
    """Lock several orders in one stable order (by id), so two requests naming the same
    orders in another sequence wait for each other instead of deadlocking."""
    for order in sorted({o.id: o for o in orders}.values(), key=lambda o: o.id):
        lock_order(session, order)


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


def active_route_of_worker(
    session: Session, account_id: str, worker_handle: str, *,
    ops_group_handle: str | None = None,
) -> Route | None:
    """The worker's most recent route that is not completed (in that ops group, if given)."""
    query = select(Route).where(Route.account_id == account_id,
                                Route.worker_handle == worker_handle,
                                Route.status != RouteStatus.COMPLETED.value)
    if ops_group_handle is not None:
        query = query.where(Route.ops_group_handle == ops_group_handle)
    return session.scalars(
        query.order_by(Route.created_at.desc(), Route.route_handle.desc()).limit(1)).first()



def _with_order(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Routes with at least one order matching ``conditions``."""
    return exists(select(literal(1)).where(
        Order.account_id == Route.account_id, Order.route_handle == Route.route_handle,
        *conditions))


def filtered(account_id: str, filters: RouteFilterFields, *, dialect: str) -> Select[Any]:
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
    # Routes keep no switch mode, destinations or outages of their own: a route matches when
    # one of its orders does.
    order_filters = order_conditions(filters, dialect)
    if order_filters:
        conditions.append(_with_order(*order_filters))
    if filters.tracking_status is not None:
        conditions.append(tracked(Route.started_at, filters.tracking_status))
    if filters.profile_filter:
        conditions.append(Route.worker_handle.in_(
            workers_with_profile(account_id, filters.profile_filter, dialect)))
    if filters.search_term:
        conditions.append(text_search(filters.search_term, [
            Route.route_handle, Route.ops_group_handle, Route.worker_handle], Route.metadata_))
    for key, value in filters.metadata_filter.items():
        conditions.append(json_match(Route.metadata_, dialect, key, value))
    for key, value in filters.region.items():
        # A route is in a region when one of its orders is (routes store no region).
        conditions.append(_with_order(json_match(Order.region, dialect, key, value)))
    if filters.device_metadata_filter:
        # No device carries metadata yet (devices are not built), so nothing matches.
        conditions.append(false())
    for stem in DATE_STEMS:
        column = getattr(Route, stem)
        day = filters.day(f"{stem}_date")
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            conditions.append(and_(column >= start, column < _next_day(start)))
    for stem in WINDOW_STEMS:
        column = getattr(Route, stem)
        lo, hi = filters.instant(f"{stem}_from"), filters.instant(f"{stem}_to")
        if lo is not None:
            conditions.append(column >= lo)
        if hi is not None:
            conditions.append(column < hi)
    return query.where(*conditions)


def _next_day(start: datetime) -> datetime:
    """Midnight after ``start``; the last representable day ends at datetime.max."""
    try:
        return start + timedelta(days=1)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def page(
    session: Session, query: Select[Any], *, descending: bool,
    after: tuple[datetime, str] | None, limit: int,
) -> list[Route]:
    """One keyset page ordered by (created_at, route_handle)."""
    return keyset_page(session, query, (Route.created_at, Route.route_handle),
                       descending=descending, after=after, limit=limit)


def worker_devices(session: Session, account_id: str, worker_handle: str) -> list[Device]:
    """The devices registered to a worker, the one last heard from first (then the newest)."""
    return list(session.scalars(
        select(Device)
        .where(Device.account_id == account_id, Device.worker_handle == worker_handle)
        .order_by(func.coalesce(Device.last_received_at, Device.created_at).desc(),
                  Device.device_id)))


def open_routes_of_worker(
    session: Session, account_id: str, worker_handle: str, *,
    ops_group_handle: str | None = None,
) -> list[Route]:
    """The worker's routes that are not completed (in that ops group, if given), newest
    first."""
    query = select(Route).where(Route.account_id == account_id,
                                Route.worker_handle == worker_handle,
                                Route.status != RouteStatus.COMPLETED.value)
    if ops_group_handle is not None:
        query = query.where(Route.ops_group_handle == ops_group_handle)
    return list(session.scalars(
        query.order_by(Route.created_at.desc(), Route.route_handle.desc())))
