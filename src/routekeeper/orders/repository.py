"""SQL for orders: lookups by handle and the filtered keyset listing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    and_,
    case,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from routekeeper.core.pagination import keyset_page
from routekeeper.db.filters import json_match, text_search
from routekeeper.models.order import Order
from routekeeper.models.order_event import OrderEvent
from routekeeper.orders.conditions import order_conditions, tracked, workers_with_profile
from routekeeper.orders.filters import (
    LOCAL_TIME_FIELDS,
    TIME_FIELDS,
    OrderFilterFields,
)
from routekeeper.orders.states import TERMINAL


def find_attempts(session: Session, account_id: str, order_handle: str) -> list[Order]:
    """Every row of an order handle, newest attempt first."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.account_id == account_id, Order.order_handle == order_handle)
            .order_by(Order.fulfillment_attempt.desc(), Order.type.desc(), Order.type_index)
        )
    )


def attempts_by_handle(
    session: Session, account_id: str, order_handles: list[str]
) -> dict[str, list[Order]]:
    """Every row of several order handles (as :func:`find_attempts`), in one query a chunk."""
    found: dict[str, list[Order]] = {handle: [] for handle in order_handles}
    unique = list(found)
    # Chunks keep the IN list within every SQLite build's limit on bound parameters.
    for start in range(0, len(unique), 500):
        for order in session.scalars(
            select(Order)
            .where(Order.account_id == account_id,
                   Order.order_handle.in_(unique[start:start + 500]))
            .order_by(Order.fulfillment_attempt.desc(), Order.type.desc(), Order.type_index)
        ):
            found[order.order_handle].append(order)
    return found


# Lifecycle order of the contract's timeline (4.1), for entries written in the same
# millisecond (a route's creation plans and assigns at once); others sort between.
_LIFECYCLE_RANK = {"order_created": 0, "order_planned": 1, "order_assigned": 2,
                   "order_started": 3, "order_completed": 8, "order_cancelled": 9}


def timeline(session: Session, order: Order) -> list[OrderEvent]:
    """An order's timeline, oldest first, in one deterministic order (ties never flip)."""
    rank = case(_LIFECYCLE_RANK, value=OrderEvent.type, else_=5)
    return list(
        session.scalars(
            select(OrderEvent)
            .where(OrderEvent.account_id == order.account_id, OrderEvent.order_id == order.id)
            .order_by(OrderEvent.recorded_at, OrderEvent.created_at, rank, OrderEvent.id)
        )
    )


def _account_timezones(session: Session, account_id: str) -> list[str]:
    rows = session.execute(
        select(Order.timezone).where(Order.account_id == account_id).distinct()
    ).scalars()
    return [tz or "UTC" for tz in rows]


# The representable range of wall-clock times (naive on purpose: localised per zone).
_WALL_MIN = datetime(1, 1, 1)
_WALL_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999)


def _next_day(start: datetime) -> datetime:
    """Midnight after ``start``; the last representable day ends at datetime.max."""
    try:
        return start + timedelta(days=1)
    except OverflowError:
        return _WALL_MAX.replace(tzinfo=start.tzinfo)


def _to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a wall-clock time in ``zone``, clamped to the representable range."""
    try:
        return wall.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        edge = _WALL_MIN if wall.year == _WALL_MIN.year else _WALL_MAX
        return edge.replace(tzinfo=UTC)


def _local_window(
    column: Any, timezones: list[str], start: datetime, end: datetime
) -> ColumnElement[bool]:
    """Rows whose instant falls in [start, end) on the wall clock of their own time zone."""
    clauses = []
    for name in timezones:
        zone = ZoneInfo(name)
        lo, hi = _to_utc(start, zone), _to_utc(end, zone)
        tz_match: ColumnElement[bool] = Order.timezone == name
        if name == "UTC":
            tz_match = or_(Order.timezone.is_(None), Order.timezone == "UTC")
        clauses.append(and_(tz_match, column >= lo, column < hi))
    return or_(*clauses) if clauses else false()



def filtered(session: Session, account_id: str, filters: OrderFilterFields) -> Select[Any]:
    """The SELECT of the account's orders matching ``filters`` (no order, no limit)."""
    dialect = session.get_bind().dialect.name
    conditions = [*_status_conditions(filters), *_field_conditions(account_id, filters, dialect),
                  *_time_conditions(session, account_id, filters)]
    return select(Order).where(Order.account_id == account_id, and_(true(), *conditions))


def _status_conditions(filters: OrderFilterFields) -> list[ColumnElement[bool]]:
    """``status``, where ``rescheduled`` means "ever rescheduled", not a status."""
    statuses = filters.statuses
    if not statuses:
        return []
    status_clauses: list[ColumnElement[bool]] = []
    plain = [s for s in statuses if s != "rescheduled"]
    if plain:
        status_clauses.append(Order.status.in_(plain))
    if "rescheduled" in statuses:
        status_clauses.append(Order.rescheduled_marked_at.is_not(None))
    return [or_(*status_clauses)]


_EQUAL = {
    "ops_group_handle": Order.ops_group_handle, "route_handle": Order.route_handle,
    "plan_id": Order.plan_id, "device_id": Order.device_id, "plan_mode": Order.plan_mode,
    "fulfillment_attempt": Order.fulfillment_attempt, "worker": Order.worker_handle,
    "risk_status": Order.risk_status,
}


def _field_conditions(account_id: str, filters: OrderFilterFields,
                      dialect: str) -> list[ColumnElement[bool]]:
    """The filters on the order's own fields, its metadata, region and worker."""
    conditions: list[ColumnElement[bool]] = [
        column == value for name, column in _EQUAL.items()
        if (value := getattr(filters, name)) is not None and value != ""
    ]
    if filters.track_mode is not None:
        conditions.append(Order.track_mode == filters.track_mode.value)
    if filters.place_handle:
        conditions.append(Order.destination["place_handle"].as_string() == filters.place_handle)
    if filters.search_term:
        conditions.append(text_search(filters.search_term, [
            Order.order_handle, Order.ops_group_handle, Order.worker_handle], Order.metadata_))
    conditions.extend(json_match(Order.metadata_, dialect, key, value)
                      for key, value in filters.metadata_filter.items())
    conditions.extend(order_conditions(filters, dialect))
    if filters.tracking_status is not None:
        conditions.append(tracked(Order.started_at, filters.tracking_status))
    if filters.profile_filter:
        conditions.append(Order.worker_handle.in_(
            workers_with_profile(account_id, filters.profile_filter, dialect)))
    conditions.extend(json_match(Order.region, dialect, key, value)
                      for key, value in filters.region.items())
    return conditions


def _utc_conditions(filters: OrderFilterFields, stem: str,
                    column: Any) -> list[ColumnElement[bool]]:
    """``<stem>_date`` (a UTC day) and ``<stem>_from``/``_to`` (instants)."""
    conditions: list[ColumnElement[bool]] = []
    day = filters.day(f"{stem}_date")
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conditions.append(and_(column >= start, column < _next_day(start)))
    lo, hi = filters.instant(f"{stem}_from"), filters.instant(f"{stem}_to")
    if lo is not None:
        conditions.append(column >= lo)
    if hi is not None:
        conditions.append(column < hi)
    return conditions


def _local_bounds(filters: OrderFilterFields,
                  stem: str) -> tuple[date | None, datetime | None, datetime | None]:
    """The ``_without_tz`` day and wall-clock bounds of ``stem`` (each None when not sent)."""
    local_day = filters.day(f"{stem}_date_without_tz")
    if stem == "created_at":
        # created_at_without_tz_from/to take dates; both days are included.
        from_day = filters.day(f"{stem}_without_tz_from")
        to_day = filters.day(f"{stem}_without_tz_to")
        return (local_day, _midnight(from_day) if from_day else None,
                _next_day(_midnight(to_day)) if to_day else None)
    return (local_day, filters.wall(f"{stem}_without_tz_from"),
            filters.wall(f"{stem}_without_tz_to"))


def _time_conditions(session: Session, account_id: str,
                     filters: OrderFilterFields) -> list[ColumnElement[bool]]:
    """The time filters: UTC days and instants, and local (``_without_tz``) ones read in
    the order's own zone."""
    conditions: list[ColumnElement[bool]] = []
    timezones: list[str] | None = None
    for stem, column_name in TIME_FIELDS.items():
        column = getattr(Order, column_name)
        conditions.extend(_utc_conditions(filters, stem, column))
        if stem not in LOCAL_TIME_FIELDS:
            continue
        local_day, local_lo, local_hi = _local_bounds(filters, stem)
        if local_day is None and local_lo is None and local_hi is None:
            continue
        if timezones is None:
            timezones = _account_timezones(session, account_id)
        if local_day is not None:
            start = _midnight(local_day)
            conditions.append(_local_window(column, timezones, start, _next_day(start)))
        if local_lo is not None or local_hi is not None:
            conditions.append(_local_window(
                column, timezones, local_lo or _WALL_MIN, local_hi or _WALL_MAX
            ))
    return conditions


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def page(
    session: Session,
    query: Select[Any],
    *,
    descending: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Order]:
    """One keyset page of ``query`` ordered by (created_at, id)."""
    return keyset_page(session, query, (Order.created_at, Order.id), descending=descending,
                       after=after, limit=limit)


_ORDER_STATUSES = ("unplanned", "planned", "assigned", "ongoing", "disabled", "completed",
                   "cancelled")


def _seconds_between(dialect: str, early: Any, late: Any) -> ColumnElement[Any]:
    """``late - early`` in seconds, on PostgreSQL and SQLite."""
    if dialect == "postgresql":
        return func.extract("epoch", late - early)
    return (func.julianday(late) - func.julianday(early)) * 86400


def aggregate(session: Session, account_id: str, filters: OrderFilterFields) -> dict[str, Any]:
    """The ``OrderAggregate`` counts and sums of every order matching ``filters`` (one query).

    ``arrived_at`` stands in for an order's first tracking event (docs/compatibility.md).
    """
    o = filtered(session, account_id, filters).subquery()
    dialect = session.get_bind().dialect.name

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    arrival_delay = _seconds_between(dialect, o.c.scheduled_at, o.c.arrived_at)
    counts: dict[str, ColumnElement[Any]] = {"total": func.count()}
    counts.update({s: count(o.c.status == s) for s in _ORDER_STATUSES})
    counts.update({
        "rescheduled": count(o.c.rescheduled_marked_at.is_not(None)),
        "tracked": count(o.c.started_at.is_not(None)),
        "on_shift": count(o.c.track_mode == "on_shift"),
        "pre_shift": count(o.c.track_mode == "pre_shift"),
        "full_shift": count(o.c.track_mode == "full_shift"),
        "arrived": count(o.c.arrived_at.is_not(None)),
        "on_time": count(and_(o.c.arrived_at.is_not(None), o.c.scheduled_at.is_not(None),
                              arrival_delay <= 600)),
        "worked": count(and_(o.c.actual_service_time.is_not(None),
                             o.c.expected_service_time.is_not(None),
                             o.c.actual_service_time <= o.c.expected_service_time + 2700)),
        "ttfe30_orders_from_start": count(and_(
            o.c.arrived_at.is_not(None), o.c.started_at.is_not(None),
            _seconds_between(dialect, o.c.started_at, o.c.arrived_at) <= 1800,
        )),
        "ttfe30_orders_before_schedule_time": count(and_(
            o.c.arrived_at.is_not(None), o.c.scheduled_at.is_not(None), arrival_delay <= 0,
        )),
    })
    sums = {"distance": func.coalesce(func.sum(o.c.distance), 0),
            "duration": func.coalesce(func.sum(o.c.duration), 0)}
    columns = [c.label(name) for name, c in {**counts, **sums}.items()]
    row = session.execute(select(*columns)).one()._mapping
    return {"orders": {name: int(row[name]) for name in counts},
            **{name: int(row[name]) for name in sums}}


def open_at_place(session: Session, account_id: str, place_handle: str) -> list[Order]:
    """The account's non-terminal orders whose destination names this place."""
    return list(session.scalars(select(Order).where(
        Order.account_id == account_id,
        Order.destination["place_handle"].as_string() == place_handle,
        Order.status.not_in([s.value for s in TERMINAL]),
    ).order_by(Order.id)))


def outage_summaries(session: Session, account_id: str, filters: OrderFilterFields
                     ) -> Iterator[list[dict[str, Any]]]:
    """The outage summaries of the orders matching ``filters`` that have one, streamed."""
    o = filtered(session, account_id, filters).subquery()
    query = select(o.c.outage_summary).where(o.c.outage_summary.is_not(None))
    for (summary,) in session.execute(query.execution_options(yield_per=1000)):
        if summary:
            yield list(summary)
