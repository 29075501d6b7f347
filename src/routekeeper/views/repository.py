"""SQL of the views: where a worker is, the trail behind them, and the rows a page names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.models.device import Device
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.models.position import Position
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker


def newest_device(
    session: Session, account_id: str, *, device_ids: Iterable[str] = (),
    worker_handle: str | None = None,
) -> Device | None:
    """Of the named devices and the worker's devices, the one that reported most recently."""
    ids = sorted({d for d in device_ids if d})
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append(Device.device_id.in_(ids))
    if worker_handle:
        conditions.append(Device.worker_handle == worker_handle)
    if not conditions:
        return None
    return session.scalars(
        select(Device)
        .where(Device.account_id == account_id, Device.last_recorded_at.is_not(None),
               or_(*conditions))
        .order_by(Device.last_recorded_at.desc(), Device.device_id)
        .limit(1)
    ).first()


def trail(
    session: Session, account_id: str, device_id: str, *, since: datetime,
    until: datetime | None, limit: int,
) -> list[tuple[float, float]]:
    """The newest ``limit`` (lat, lon) fixes of a device in ``[since, until]``, oldest first."""
    query = (
        select(Position.lat, Position.lon)
        .where(Position.account_id == account_id, Position.device_id == device_id,
               Position.recorded_at >= since)
    )
    if until is not None:
        query = query.where(Position.recorded_at <= until)
    rows = session.execute(query.order_by(Position.recorded_at.desc()).limit(limit)).all()
    return [(float(lat), float(lon)) for lat, lon in reversed(rows)]


def worker(session: Session, account_id: str, worker_handle: str | None) -> Worker | None:
    """A worker of the account by handle (deleted ones included: their routes remain)."""
    if not worker_handle:
        return None
    return session.get(Worker, (account_id, worker_handle))


def ops_group(session: Session, account_id: str, handle: str) -> OpsGroup | None:
    """An ops group of the account by handle."""
    return session.get(OpsGroup, (account_id, handle))


def ops_groups(session: Session, account_id: str, *, limit: int = 500) -> list[OpsGroup]:
    """The account's ops groups by handle."""
    return list(session.scalars(
        select(OpsGroup).where(OpsGroup.account_id == account_id)
        .order_by(OpsGroup.ops_group_handle).limit(limit)))


def order_by_tracking_id(session: Session, tracking_id: str) -> Order | None:
    """The order a share link names (tracking ids are unique across accounts)."""
    return session.scalars(select(Order).where(Order.tracking_id == tracking_id)).first()


def order_attempt(
    session: Session, account_id: str, order_handle: str, fulfillment_attempt: int | None
) -> Order | None:
    """An order of the account by handle and attempt (the latest attempt when None)."""
    query = select(Order).where(Order.account_id == account_id,
                                Order.order_handle == order_handle)
    if fulfillment_attempt is not None:
        query = query.where(Order.fulfillment_attempt == fulfillment_attempt)
    return session.scalars(query.order_by(Order.fulfillment_attempt.desc(), Order.type,
                                          Order.type_index).limit(1)).first()


def order_events(session: Session, order: Order, *, limit: int) -> list[OrderEvent]:
    """The newest ``limit`` entries of an order's timeline, oldest first."""
    rows = session.scalars(
        select(OrderEvent)
        .where(OrderEvent.account_id == order.account_id, OrderEvent.order_id == order.id)
        .order_by(OrderEvent.recorded_at.desc(), OrderEvent.created_at.desc(),
                  OrderEvent.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def earlier_stops(session: Session, order: Order) -> list[Order]:
    """The orders before ``order`` on its route, in sequence."""
    if order.route_handle is None or order.route_sequence is None:
        return []
    return list(session.scalars(
        select(Order)
        .where(Order.account_id == order.account_id, Order.route_handle == order.route_handle,
               Order.route_sequence < order.route_sequence, Order.id != order.id)
        .order_by(Order.route_sequence)
    ))


# A share view is keyed ("share", tracking_id), an embed view ("embed", account_id, handle),
# an order embed ("embed-order", account_id, order_handle, fulfillment_attempt).
ViewKey = tuple[str, ...]
_CHUNK = 500  # bound parameters per statement (SQLite allows 32,766; PostgreSQL 65,535)


def change_marks(session: Session, keys: Sequence[ViewKey]) -> dict[ViewKey, tuple[Any, ...]]:
    """What changes when a live view changes, for many views in a few statements: the rows'
    ``updated_at`` and the newest fix of the worker's devices. A view whose row is gone has
    no entry."""
    marks: dict[ViewKey, tuple[Any, ...]] = {}
    shares = [k[1] for k in keys if k[0] == "share"]
    embeds = [(k[1], k[2]) for k in keys if k[0] == "embed"]
    newest_fix = (
        select(func.max(Device.last_recorded_at))
        .where(Device.account_id == Order.account_id, Device.worker_handle == Order.worker_handle)
        .scalar_subquery()
    )
    for start in range(0, len(shares), _CHUNK):
        rows = session.execute(
            select(Order.tracking_id, Order.updated_at, Route.updated_at, newest_fix)
            .outerjoin(Route, and_(Route.account_id == Order.account_id,
                                   Route.route_handle == Order.route_handle))
            .where(Order.tracking_id.in_(shares[start:start + _CHUNK]))
        )
        for tracking_id, *rest in rows:
            marks[("share", str(tracking_id))] = tuple(rest)
    orders_changed = (
        select(func.max(Order.updated_at))
        .where(Order.account_id == Route.account_id, Order.route_handle == Route.route_handle)
        .scalar_subquery()
    )
    route_fix = (
        select(func.max(Device.last_recorded_at))
        .where(Device.account_id == Route.account_id, Device.worker_handle == Route.worker_handle)
        .scalar_subquery()
    )
    for key in keys:
        # An order embed ("embed-order", account_id, handle, attempt): few at a time, one
        # statement each.
        if key[0] != "embed-order" or len(key) != 4 or not key[3].isdigit():
            continue
        row = session.execute(
            select(Order.updated_at, Route.updated_at, newest_fix)
            .outerjoin(Route, and_(Route.account_id == Order.account_id,
                                   Route.route_handle == Order.route_handle))
            .where(Order.account_id == key[1], Order.order_handle == key[2],
                   Order.fulfillment_attempt == int(key[3]))
            .order_by(Order.type, Order.type_index).limit(1)
        ).first()
        if row is not None:
            marks[key] = tuple(row)
    for start in range(0, len(embeds), _CHUNK):
        rows = session.execute(
            select(Route.account_id, Route.route_handle, Route.updated_at, orders_changed,
                   route_fix)
            .where(tuple_(Route.account_id, Route.route_handle).in_(embeds[start:start + _CHUNK]))
        )
        for account_id, handle, *rest in rows:
            marks[("embed", str(account_id), str(handle))] = tuple(rest)
    return marks
