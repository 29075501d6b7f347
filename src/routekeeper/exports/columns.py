"""The CSV columns of an order export, each an SQL expression that yields the cell's text.

The database renders every cell (timestamps as ISO-8601 UTC, booleans as ``true``/``false``,
JSON as text, nested fields pulled out by JSON path), so the worker only moves strings and
numbers from the cursor to the CSV writer: no ORM objects, no per-value Python conversion.
The same SELECT is what the benchmark hands to PostgreSQL's COPY as the speed ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, case, cast, false, func, literal, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from routekeeper.models.order import Order


class iso_utc(FunctionElement[str]):
    """A timestamp column rendered as ``2023-10-31T04:00:00.000Z`` by the database."""

    type = String()
    inherit_cache = True
    name = "iso_utc"


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # to_char truncates to milliseconds, as format_ts does.
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite: cutting the
    # text truncates to milliseconds exactly (strftime('%f') would round).
    column = compiler.process(element.clauses, **kw)
    return f"(substr({column}, 1, 10) || 'T' || substr({column}, 12, 12) || 'Z')"


def _json_text(column: Any) -> ColumnElement[Any]:
    # A JSON null (how an ORM None may be kept) is an empty cell like an SQL NULL.
    return func.nullif(cast(column, Text), "null")


def _flag(column: Any) -> ColumnElement[Any]:
    return case((column == true(), "true"), (column == false(), "false"), else_=None)


def _path(column: Any, *path: str) -> ColumnElement[Any]:
    # Scalars come out as text; an object or array comes out as JSON text.
    element = column[path] if len(path) > 1 else column[path[0]]
    return element.as_string()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One CSV column: its header and the expression of its cell."""

    name: str
    expression: ColumnElement[Any]


def export_columns(public_url: str) -> list[ExportColumn]:
    """Every column of the export, in file order (documented in docs/exports.md)."""
    base = public_url.rstrip("/")
    ts = iso_utc
    columns: list[tuple[str, Any]] = [
        ("order_handle", Order.order_handle),
        ("fulfillment_attempt", Order.fulfillment_attempt),
        ("status", Order.status),
        ("type", Order.type),
        ("type_index", Order.type_index),
        ("destination_lon", Order.destination_lon),
        ("destination_lat", Order.destination_lat),
        ("destination_radius", _path(Order.destination, "radius")),
        ("destination_address", _path(Order.destination, "address")),
        ("destination_geometry_type", _path(Order.destination, "geometry", "type")),
        ("destination_geometry", _json_text(Order.destination["geometry"])),
        ("place_handle", _path(Order.destination, "place_handle")),
        ("region_country", _path(Order.region, "country")),
        ("region_state", _path(Order.region, "state")),
        ("region_city", _path(Order.region, "city")),
        ("ops_group_handle", Order.ops_group_handle),
        ("plan_mode", Order.plan_mode),
        ("plan_id", Order.plan_id),
        ("route_handle", Order.route_handle),
        ("planning_failure_reason", Order.planning_failure_reason),
        ("track_mode", Order.track_mode),
        ("device_switch_mode", Order.device_switch_mode),
        ("worker_handle", Order.worker_handle),
        ("device_id", Order.device_id),
        ("scheduled_after", ts(Order.scheduled_after)),
        ("scheduled_at", ts(Order.scheduled_at)),
        ("expected_service_time", Order.expected_service_time),
        ("actual_service_time", Order.actual_service_time),
        ("capacity_used", Order.capacity_used),
        ("product_type", _json_text(Order.product_type)),
        ("priority", Order.priority),
        ("metadata", _json_text(Order.metadata_)),
        ("risk_status", _flag(Order.risk_status)),
        ("risks", _json_text(Order.risks)),
        ("estimate_start_by", _path(Order.estimate, "start_by")),
        ("estimate_arrive_at", _path(Order.estimate, "arrive_at")),
        ("estimate_distance", _path(Order.estimate, "distance")),
        ("estimate_duration", _path(Order.estimate, "duration")),
        ("distance", Order.distance),
        ("duration", Order.duration),
        ("tracking_rate", Order.tracking_rate),
        ("share_url", case((Order.started_at.is_not(None),
                            literal(f"{base}/t/") + Order.tracking_id), else_=None)),
        ("embed_url", case((Order.route_handle.is_not(None),
                            literal(f"{base}/embed/routes/") + Order.route_handle), else_=None)),
        ("timezone", Order.timezone),
        ("created_at", ts(Order.created_at)),
        ("planned_at", ts(Order.planned_at)),
        ("assigned_at", ts(Order.assigned_at)),
        ("started_at", ts(Order.started_at)),
        ("arrived_at", ts(Order.arrived_at)),
        ("exited_at", ts(Order.exited_at)),
        ("completed_at", ts(Order.completed_at)),
        ("cancelled_at", ts(Order.cancelled_at)),
        ("disabled_at", ts(Order.disabled_at)),
        ("enabled_at", ts(Order.enabled_at)),
        ("rescheduled_marked_at", ts(Order.rescheduled_marked_at)),
        ("created_by", _json_text(Order.created_by)),
        ("cancellation_source", _json_text(Order.cancellation_source)),
    ]
    return [ExportColumn(name, expression) for name, expression in columns]


def header(public_url: str = "") -> list[str]:
    """The header row of the CSV file."""
    return [column.name for column in export_columns(public_url)]
