"""SQL conditions on orders for the filters orders and routes share (``TrackingFilters``).

Routes apply them through their orders (a route matches when one of its orders does), so
they live here once, next to the order table they read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.core import geohash
from routekeeper.core.query_filters import TrackingFilters
from routekeeper.db.filters import json_match
from routekeeper.models.order import Order
from routekeeper.models.worker import Worker

# Statuses in which an order's worker can be at its destination for it.
_OPEN = ("ongoing", "disabled")


def in_cell(cell: geohash.Cell) -> ColumnElement[bool]:
    """Orders whose destination (its point, or a polygon's centre) lies in a geohash cell."""
    lon, lat = Order.destination_lon, Order.destination_lat
    lon_ok = or_(and_(lon >= cell.west, lon < cell.east),
                 and_(lon == 180.0, literal(cell.east == 180.0)))
    lat_ok = or_(and_(lat >= cell.south, lat < cell.north),
                 and_(lat == 90.0, literal(cell.north == 90.0)))
    return and_(lon_ok, lat_ok)


def worker_inside() -> ColumnElement[bool]:
    """Open orders whose worker entered the destination and has not left it since."""
    return and_(Order.status.in_(_OPEN), Order.arrived_at.is_not(None),
                or_(Order.exited_at.is_(None), Order.exited_at < Order.arrived_at))


def with_outage(categories: list[str], dialect: str) -> ColumnElement[bool]:
    """Orders whose outage summary holds an outage of one of ``categories``."""
    if dialect == "postgresql":
        column = type_coerce(Order.outage_summary, JSONB)
        return or_(*(column.contains([{"category": c}]) for c in categories))
    item = func.json_each(Order.outage_summary).table_valued("value").alias("outage")
    return exists(select(literal(1)).select_from(item).where(
        func.json_extract(item.c.value, "$.category").in_(categories)))


def workers_with_profile(account_id: Any, profile: dict[str, Any], dialect: str) -> Any:
    """The handles of the account's workers whose profile holds every key/value given."""
    return select(Worker.worker_handle).where(
        Worker.account_id == account_id,
        *(json_match(Worker.profile, dialect, k, v) for k, v in profile.items()))


def order_conditions(filters: TrackingFilters, dialect: str) -> list[ColumnElement[bool]]:
    """The conditions on an order of the filters that read its own columns."""
    conditions: list[ColumnElement[bool]] = []
    if filters.destination_geohash:
        conditions.append(in_cell(geohash.decode(filters.destination_geohash)))
    if filters.device_switch_mode is not None:
        conditions.append(Order.device_switch_mode == filters.device_switch_mode)
    if filters.worker_inside_destination is not None:
        inside = worker_inside()
        conditions.append(inside if filters.worker_inside_destination else ~inside)
    if filters.outage_categories:
        conditions.append(with_outage(filters.outage_categories, dialect))
    return conditions


def tracked(column: Any, status: str | None) -> ColumnElement[bool]:
    """``tracking_status``: tracked rows have started (``column`` is their start time)."""
    if status is None:
        return true()
    condition: ColumnElement[bool] = column.is_not(None) if status == "tracked" \
        else column.is_(None)
    return condition

