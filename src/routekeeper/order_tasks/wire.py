"""Wire shapes of order tasks (``OrderTaskResponse``, contract 3.8)."""

from __future__ import annotations

from typing import Any

from routekeeper.core.timefmt import format_ts
from routekeeper.models.order_task import OrderTask


def task_wire(task: OrderTask) -> dict[str, Any]:
    """The ``OrderTaskResponse`` of a task."""
    return {
        "task_id": task.task_id, "label": task.label,
        "task_definition_id": task.task_definition_id, "description": task.description,
        "metadata": task.metadata_, "priority": task.priority, "status": task.status,
        "created_at": task.created_at, "updated_at": task.updated_at,
        "attachments": task.attachments or [],
    }


def task_json(task: OrderTask) -> dict[str, Any]:
    """The ``OrderTaskResponse`` of a task as plain JSON (timestamps as the wire writes
    them), for shapes that are not pydantic models: order lists, webhook payloads."""
    wire = task_wire(task)
    for stamp in ("created_at", "updated_at"):
        wire[stamp] = format_ts(wire[stamp]) if wire[stamp] else None
    return wire
