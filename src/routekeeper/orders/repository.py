"""SQL for orders: lookups by handle and the filtered keyset listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, and_, cast, false, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.orders.filters import (
    LOCAL_TIME_FIELDS,
    TIME_FIELDS,
    OrderFilterFields,
)


def find_attempts(session: Session, account_id: str, order_handle: str) -> list[Order]:
    """Every row of an order handle, newest attempt first."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.account_id == account_id, Order.order_handle == order_handle)
            .order_by(Order.fulfillment_attempt.desc(), Order.type.desc(), Order.type_index)
        )
    )


def timeline(session: Session, order: Order) -> list[OrderEvent]:
    """An order's timeline, oldest first."""
    return list(
        session.scalars(
            select(OrderEvent)
            .where(OrderEvent.account_id == order.account_id, OrderEvent.order_id == order.id)
            .order_by(OrderEvent.recorded_at, OrderEvent.created_at)
        )
    )


def _account_timezones(session: Session, account_id: str) -> list[str]:
    rows = session.execute(
        select(Order.timezone).where(Order.account_id == account_id).distinct()
    ).scalars()
    return [tz or "UTC" for tz in rows]


def _local_window(
    column: Any, timezones: list[str], start: datetime, end: datetime
) -> ColumnElement[bool]:
    """Rows whose instant falls in [start, end) on the wall clock of their own time zone."""
    clauses = []
    for name in timezones:
        zone = ZoneInfo(name)
        lo = start.replace(tzinfo=zone).astimezone(UTC)
        hi = end.replace(tzinfo=zone).astimezone(UTC)
        tz_match: ColumnElement[bool] = Order.timezone == name
        if name == "UTC":
            tz_match = or_(Order.timezone.is_(None), Order.timezone == "UTC")
        clauses.append(and_(tz_match, column >= lo, column < hi))
    return or_(*clauses) if clauses else false()


def _metadata_clause(key: str, value: Any) -> ColumnElement[bool]:
    item = Order.metadata_[key]
    if isinstance(value, bool):
        return item.as_boolean() == value
    if isinstance(value, (int, float)):
        return item.as_float() == float(value)
    return item.as_string() == str(value)


def filtered(session: Session, account_id: str, filters: OrderFilterFields) -> Select[Any]:
    """The SELECT of the account's orders matching ``filters`` (no order, no limit)."""
    query = select(Order).where(Order.account_id == account_id)
    conditions: list[ColumnElement[bool]] = []
    statuses = filters.statuses
    if statuses:
        status_clauses: list[ColumnElement[bool]] = []
        plain = [s for s in statuses if s != "rescheduled"]
        if plain:
            status_clauses.append(Order.status.in_(plain))
        if "rescheduled" in statuses:
            status_clauses.append(Order.rescheduled_marked_at.is_not(None))
        conditions.append(or_(*status_clauses))
    equal = {
        "ops_group_handle": Order.ops_group_handle, "route_handle": Order.route_handle,
        "plan_id": Order.plan_id, "device_id": Order.device_id, "plan_mode": Order.plan_mode,
        "fulfillment_attempt": Order.fulfillment_attempt,
    }
    for name, column in equal.items():
        value = getattr(filters, name)
        if value is not None:
            conditions.append(column == value)
    if filters.track_mode is not None:
        conditions.append(Order.track_mode == filters.track_mode.value)
    if filters.worker:
        conditions.append(Order.worker_handle == filters.worker)
    if filters.place_handle:
        conditions.append(Order.destination["place_handle"].as_string() == filters.place_handle)
    if filters.risk_status is not None:
        conditions.append(Order.risk_status == filters.risk_status)
    if filters.search_term:
        pattern = f"%{filters.search_term.lower()}%"
        conditions.append(
            or_(
                Order.order_handle.ilike(pattern), Order.ops_group_handle.ilike(pattern),
                Order.worker_handle.ilike(pattern), cast(Order.metadata_, String).ilike(pattern),
            )
        )
    for key, value in filters.metadata_filter.items():
        conditions.append(_metadata_clause(key, value))
    timezones: list[str] | None = None
    for stem, column_name in TIME_FIELDS.items():
        column = getattr(Order, column_name)
        day = filters.day(f"{stem}_date")
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            conditions.append(and_(column >= start, column < start + timedelta(days=1)))
        lo, hi = filters.instant(f"{stem}_from"), filters.instant(f"{stem}_to")
        if lo is not None:
            conditions.append(column >= lo)
        if hi is not None:
            conditions.append(column < hi)
        if stem not in LOCAL_TIME_FIELDS:
            continue
        local_day = filters.day(f"{stem}_date_without_tz")
        local_lo = filters.text(f"{stem}_without_tz_from")
        local_hi = filters.text(f"{stem}_without_tz_to")
        if local_day is None and local_lo is None and local_hi is None:
            continue
        if timezones is None:
            timezones = _account_timezones(session, account_id)
        if local_day is not None:
            start = datetime(local_day.year, local_day.month, local_day.day)
            conditions.append(_local_window(column, timezones, start, start + timedelta(days=1)))
        if local_lo is not None or local_hi is not None:
            lo_wall = _wall(local_lo, date_only=stem == "created_at") or datetime(1, 1, 2)
            hi_wall = _wall(local_hi, date_only=stem == "created_at", end=True) or datetime(
                9999, 12, 30
            )
            conditions.append(_local_window(column, timezones, lo_wall, hi_wall))
    return query.where(and_(true(), *conditions))


def _wall(value: str | None, *, date_only: bool, end: bool = False) -> datetime | None:
    if value is None:
        return None
    if date_only:
        day = datetime.strptime(value, "%Y-%m-%d")
        return day + timedelta(days=1) if end else day
    return datetime.strptime(value.replace("T", " ")[:19], "%Y-%m-%d %H:%M:%S")


def page(
    session: Session,
    query: Select[Any],
    *,
    descending: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Order]:
    """One keyset page of ``query`` ordered by (created_at, id)."""
    if after is not None:
        created, order_id = after
        if descending:
            query = query.where(
                or_(Order.created_at < created,
                    and_(Order.created_at == created, Order.id < order_id))
            )
        else:
            query = query.where(
                or_(Order.created_at > created,
                    and_(Order.created_at == created, Order.id > order_id))
            )
    if descending:
        query = query.order_by(Order.created_at.desc(), Order.id.desc())
    else:
        query = query.order_by(Order.created_at.asc(), Order.id.asc())
    return list(session.scalars(query.limit(limit)))
