"""Narrow an order's timeline as ``GET /orders/{order_handle}``'s query asks (contract 2.4).

- ``from_time`` / ``to_time``: events recorded in that range (both ends included);
- ``on_shift_only``: events while the order was tracked, from ``started_at`` to its
  completion or cancellation (or now, while it is still open); an order never tracked has
  no such events;
- ``device_id``: events of that device, plus the events no device produced (creation,
  planning, custom events without a device);
- ``allow_mocked_events`` (default false): events marked ``is_mocked`` (custom events a
  client posted from a device that reported mock locations) are left out unless allowed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from routekeeper.core.timefmt import format_ts
from routekeeper.models.order import Order


def tracked_span(order: Order) -> tuple[datetime, datetime | None] | None:
    """When the order was tracked: (start, end or None while open); None if never."""
    if order.started_at is None:
        return None
    return order.started_at, order.completed_at or order.cancelled_at


def _stamp(value: Any) -> str | None:
    return format_ts(value) if isinstance(value, datetime) else value


def timeline_view(
    events: list[dict[str, Any]], *, since: datetime | None, until: datetime | None,
    device_id: str | None, on_shift_only: bool,
    shift: tuple[datetime, datetime | None] | None, allow_mocked: bool,
) -> list[dict[str, Any]]:
    """The events of ``events`` (wire dicts) that pass every narrowing asked for; ``shift``
    is the order's tracked span (``tracked_span``)."""
    if on_shift_only and shift is None:
        return []
    # Timestamps compare as their ISO-8601 text: one format, milliseconds and ``Z``.
    bounds = [(_stamp(since), _stamp(until))]
    if on_shift_only and shift is not None:
        bounds.append((_stamp(shift[0]), _stamp(shift[1])))
    kept = []
    for event in events:
        at = _stamp(event.get("recorded_at"))
        if any((lo is not None and (at is None or at < lo))
               or (hi is not None and (at is None or at > hi)) for lo, hi in bounds):
            continue
        if device_id is not None and event.get("device_id") not in (None, device_id):
            continue
        if not allow_mocked and event.get("is_mocked") is True:
            continue
        kept.append(event)
    return kept
