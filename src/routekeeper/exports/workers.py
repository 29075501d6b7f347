"""The file of a workers' export (``POST /workers/export``): its columns and its rows.

A row is the worker exactly as ``GET /workers/`` shows it (its ``work_status`` derived the
same way), flattened into cells: lists and objects as JSON text, booleans as
``true``/``false`` and timestamps as the wire writes them, as in the orders' file.
Workers are few next to orders, so the rows are read as ORM objects in keyset batches
and formatted in Python, unlike the orders' database-rendered cells.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.timefmt import format_ts
from routekeeper.exports.writer import csv_bytes
from routekeeper.workers import service as workers
from routekeeper.workers.schemas import WorkerRead
from routekeeper.workers.status import work_statuses

# Every column of the workers' file, in file order (documented in docs/exports.md).
WORKER_COLUMNS = (
    "worker_handle", "name", "ops_group_handle", "available", "tracking", "product_types",
    "capacity", "home", "schedule", "unavailable_on", "device_ids", "profile", "metadata",
    "created_at", "updated_at",
)


def worker_header() -> list[str]:
    """The header row of a workers' file."""
    return list(WORKER_COLUMNS)


def _cell(value: Any) -> str | int | float | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str | int | float):
        return value
    return json.dumps(value, ensure_ascii=False)


def worker_cells(worker: WorkerRead) -> list[str | int | float | None]:
    """One worker's cells, in the order of :data:`WORKER_COLUMNS`."""
    wire = worker.model_dump(mode="json")
    wire.update(wire.pop("work_status"))
    wire["created_at"] = format_ts(worker.created_at)
    wire["updated_at"] = format_ts(worker.updated_at)
    return [_cell(wire.get(name)) for name in WORKER_COLUMNS]


def worker_batches(
    session: Session, account_id: str, filters: dict[str, Any], *, batch_rows: int
) -> Iterator[tuple[bytes, int]]:
    """The workers the export's filters select, as CSV bytes and a row count per batch."""
    walk = workers.walk_workers(
        session, account_id, ops_group_handles=filters.get("ops_group_handles"),
        search_term=filters.get("search_term"), worker_handles=filters.get("worker_handles"),
        batch=batch_rows,
    )
    for batch in walk:
        statuses = work_statuses(session, batch, now=utcnow())
        rows = [worker_cells(workers.worker_read(w, statuses[w.worker_handle])) for w in batch]
        yield csv_bytes(rows), len(rows)
