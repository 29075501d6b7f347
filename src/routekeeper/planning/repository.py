"""SQL for plans: the filtered keyset listing and summaries aggregated in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, String, any_, bindparam, case, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session, defer, load_only

from routekeeper.core.pagination import keyset_page
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
    """One keyset page of plans ordered by (created_at, plan_id) (a range of
    ``ix_plan_account_created``, see ``core.pagination.keyset_page``)."""
    query = select(Plan).where(Plan.account_id == account_id)
    if fulfillment_date:
        query = query.where(Plan.fulfillment_date == fulfillment_date)
    if ops_group_handle:
        query = query.where(Plan.ops_group_handle == ops_group_handle)
    if status:
        query = query.where(Plan.status == status)
    return keyset_page(session, query, (Plan.created_at, Plan.plan_id),
                       descending=descending, after=after, limit=limit)


def _among(session: Session, column: InstrumentedAttribute[Any], values: list[str]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:values)`` with one array parameter.

    A page's 50 ids expanded into 50 placeholders make the statements longer than psycopg's
    4 KiB cache of converted queries, so each request would parse them again, and
    SQLAlchemy would render the expanded list again; one array parameter keeps the SQL
    text constant and short (docs/benchmarks/plans.md), and the planner uses the same
    index for both forms.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String())))
    return column.in_(values)


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
        .where(Order.account_id == account_id, _among(session, Order.plan_id, plan_ids))
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
        .where(Route.account_id == account_id, _among(session, Route.plan_id, plan_ids))
        .group_by(Route.plan_id)
    ).all()
    for pid, routes, drivers, est_distance, est_duration in route_rows:
        summary = result[pid]
        summary["routes"] = int(routes)
        summary["drivers"] = int(drivers)
        summary["estimate"] = {"distance": int(est_distance or 0),
                               "duration": int(est_duration or 0)}
    return result


_Row = TypeVar("_Row", Route, Order)


def _by_plan(session: Session, query: Select[_Row], plan_ids: list[str]
             ) -> dict[str, list[_Row]]:
    """Rows of ``query`` grouped by their plan id (every id of ``plan_ids`` present)."""
    grouped: dict[str, list[_Row]] = {pid: [] for pid in plan_ids}
    if not plan_ids:
        return grouped
    for row in session.scalars(query):
        assert row.plan_id is not None
        grouped[row.plan_id].append(row)
    return grouped


def _routes_of(session: Session, account_id: str, plan_ids: list[str]) -> Select[Route]:
    return (
        select(Route)
        .where(Route.account_id == account_id, _among(session, Route.plan_id, plan_ids))
        .order_by(Route.created_at, Route.route_handle)
    )


def _unplanned_of(session: Session, account_id: str, plan_ids: list[str]
                  ) -> Select[Order]:
    return (
        select(Order)
        .where(Order.account_id == account_id, _among(session, Order.plan_id, plan_ids),
               Order.status == "unplanned")
        .order_by(Order.created_at, Order.id)
    )


def plan_route_rows(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Route]]:
    """The routes of several plans by plan id."""
    return _by_plan(session, _routes_of(session, account_id, plan_ids), plan_ids)


def plan_route_items(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Route]]:
    """The routes of several plans by plan id, with only what a plan list item shows
    (``route_handle`` and ``status``): the estimate, polylines and tracking state of full
    rows are JSON that would be read and parsed for nothing. Other attributes raise."""
    query = _routes_of(session, account_id, plan_ids).options(
        load_only(Route.route_handle, Route.status, Route.plan_id, Route.created_at,
                  raiseload=True))
    return _by_plan(session, query, plan_ids)


def unplanned_items(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Order]]:
    """The unplanned orders of several plans by plan id, with only the columns of
    ``OrderObjectMini`` (no destination, metadata or other JSON). Other attributes raise."""
    query = _unplanned_of(session, account_id, plan_ids).options(
        load_only(Order.order_handle, Order.status, Order.type, Order.type_index,
                  Order.fulfillment_attempt, Order.plan_mode, Order.planning_failure_reason,
                  Order.plan_id, Order.created_at, raiseload=True))
    return _by_plan(session, query, plan_ids)


def unplanned_rows(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Order]]:
    """The unplanned orders of several plans by plan id."""
    return _by_plan(session, _unplanned_of(session, account_id, plan_ids), plan_ids)




# What a plan's routes and their orders do not show: the tracked paths and the tracking state
# (JSON that can be large), never read when listing plans; touching them raises.
_ROUTE_UNSHOWN = (Route.polyline, Route.start_location, Route.end_location, Route.track_state)
_ORDER_UNSHOWN = (Order.polyline, Order.start_location, Order.end_location,
                  Order.previous_fulfillments, Order.attachments)


def plan_routes_shown(
    session: Session, account_id: str, plan_ids: list[str]
) -> dict[str, list[Route]]:
    """The routes of several plans by plan id, without what plans do not show."""
    query = _routes_of(session, account_id, plan_ids).options(
        *(defer(column, raiseload=True) for column in _ROUTE_UNSHOWN))
    return _by_plan(session, query, plan_ids)


def route_orders_shown(
    session: Session, account_id: str, routes: list[Route]
) -> dict[str, list[Any]]:
    """The orders of several routes by route handle, in sequence, as plain rows of the
    columns plans show (one query): a thousand ORM objects with their change tracking cost
    more than the page's whole SQL. The rows have the ``Order`` attribute names that
    ``orders.wire.order_wire`` reads."""
    grouped: dict[str, list[Any]] = {r.route_handle: [] for r in routes}
    if not routes:
        return grouped
    unshown = {column.key for column in _ORDER_UNSHOWN}
    columns = [attr for attr in Order.__mapper__.column_attrs if attr.key not in unshown]
    query = (
        select(*(getattr(Order, attr.key) for attr in columns))
        .where(Order.account_id == account_id,
               _among(session, Order.route_handle, list(grouped)))
        .order_by(Order.route_sequence, Order.created_at)
    )
    for row in session.execute(query):
        grouped[row.route_handle].append(row)
    return grouped


# --- orders rendered by PostgreSQL ---------------------------------------------------------
#
# A page of plans shows about 1,200 orders of about 60 keys each. Decoding their JSON columns
# and datetimes into Python objects, building a dict per order (``orders.wire.order_wire``)
# and encoding it all again cost most of the request (docs/benchmarks/plans.md). On
# PostgreSQL each order's JSON text is built by the query instead (``row_to_json``), with the
# keys, values and key order of ``order_wire``; tests/planning/test_plans_rendered.py compares
# the two on every kind of value. The route's signed embed URL comes in as a parameter.

_WIRE_TS = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
_FALSY_JSON = "('null', 'false', '0', '\"\"', '[]', '{}')"


def _json_or(column: str, default: str) -> str:
    """``column or default`` as Python reads a JSON column: any falsy value is the default."""
    return (f"CASE WHEN o.{column} IS NULL OR o.{column} IN {_FALSY_JSON} "
            f"THEN '{default}'::jsonb ELSE o.{column} END")


# (wire key, SQL) in the order of ``orders.wire.order_wire``.
_ORDER_FIELDS: tuple[tuple[str, str], ...] = (
    *((k, f"o.{k}") for k in ("order_handle", "fulfillment_attempt", "status", "type",
                              "type_index", "destination")),
    ("place_handle", "o.destination -> 'place_handle'"),
    *((k, f"o.{k}") for k in ("region", "ops_group_handle", "plan_mode", "plan_id",
                              "route_handle", "planning_failure_reason", "track_mode",
                              "device_switch_mode", "worker_handle")),
    ("driver_handle", "o.worker_handle"),
    *((k, f"o.{k}") for k in ("device_id", "expected_service_time", "actual_service_time",
                              "capacity_used")),
    ("product_type", _json_or("product_type", "[]")),
    ("priority", "o.priority"),
    ("metadata", _json_or("metadata", "{}")),
    ("risk_status", "coalesce(o.risk_status, false)"),
    *((k, f"o.{k}") for k in ("risks", "estimate", "distance", "duration", "tracking_rate",
                              "outage_summary")),
    *((k, "NULL") for k in ("driver_name", "worker_profile", "tracked_service_time",
                            "time_to_first_event", "time_to_first_location", "tasks")),
    ("share_url", "CASE WHEN o.started_at IS NULL THEN NULL "
                  "ELSE CAST(:share_prefix AS text) || o.tracking_id END"),
    ("embed_url", "e.embed_url"),
    *((k, f"o.{k}") for k in ("timezone", "cancellation_source", "created_by",
                              "time_windows", "lateness_cost_per_minute")),
    *((k, f"to_char(o.{k} AT TIME ZONE 'UTC', {_WIRE_TS})") for k in (
        "created_at", "planned_at", "assigned_at", "started_at", "arrived_at", "exited_at",
        "completed_at", "cancelled_at", "disabled_at", "enabled_at", "rescheduled_marked_at",
        "scheduled_after", "scheduled_at")),
)

_RENDERED_ORDERS = text(
    "SELECT w.route_handle, w.id, w.order_handle, w.device_switch_mode, "
    "row_to_json(w.wire)::text AS wire FROM ("
    "SELECT o.route_handle, o.id, o.order_handle, o.device_switch_mode, o.route_sequence, "
    "o.created_at, (SELECT r FROM (SELECT "
    + ", ".join(f'{sql} AS "{key}"' for key, sql in _ORDER_FIELDS)
    + ') r) AS wire FROM "order" o '
    "JOIN unnest(CAST(:handles AS varchar[]), CAST(:urls AS text[])) AS e(route_handle, "
    "embed_url) ON o.route_handle = e.route_handle "
    "WHERE o.account_id = :account_id) w ORDER BY w.route_sequence, w.created_at"
)


def route_orders_rendered(
    session: Session, account_id: str, embed_urls: dict[str, str], share_prefix: str
) -> dict[str, list[Any]] | None:
    """The orders of several routes (route handle -> its signed embed URL) by route handle, in
    sequence, each a row of ``id``, ``order_handle``, ``device_switch_mode`` (what a route
    reads of its orders) and ``wire``, its ``order_wire`` JSON rendered by PostgreSQL (one
    query); None on another database (the caller renders :func:`route_orders_shown`)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    grouped: dict[str, list[Any]] = {handle: [] for handle in embed_urls}
    if not embed_urls:
        return grouped
    rows = session.execute(_RENDERED_ORDERS, {
        "account_id": account_id, "handles": list(embed_urls),
        "urls": list(embed_urls.values()), "share_prefix": share_prefix})
    for row in rows:
        grouped[row.route_handle].append(row)
    return grouped
