"""The event types an endpoint can subscribe to, and how a filter matches an event.

A filter entry is either a whole type (``"order"``) or one value of a type
(``"order.completed"``); an endpoint without a filter receives every event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Contract 5.2 (values with a payload schema, the history filter values and the values
# [AE] lists without a schema) and 5.3 (route values).
ORDER_VALUES = frozenset({
    "assigned", "started", "first_eta", "eta", "eta_change", "eta_change_v2",
    "n_minutes_away", "delayed", "risk_updated", "arrived", "exited", "completed",
    "cancelled", "disabled", "enabled", "updated", "device_switched",
    "on_device_geofence_checked", "billing_details_updated", "task_created", "task_updated",
    "task_completed", "planning_started", "planning_completed", "planning_failed",
    "timesheet_updated", "location_timesheet_finalized",
})
ROUTE_VALUES = frozenset({
    "created", "assigned", "estimate_generated", "started", "completed", "updated",
    "request_version_missing", "candidate_devices_updated",
})
# Values are only checked for the types whose values the contract lists.
KNOWN_VALUES: dict[str, frozenset[str]] = {"order": ORDER_VALUES, "route": ROUTE_VALUES}
EVENT_TYPES = frozenset({
    "order", "route", "location", "device_status", "battery", "geotag", "geofence", "trip",
    "worker", "registration", "registration_update", "reinstall", "time_offset_changed",
    "nearby", "locate",
})
# The values accepted by the ``value`` filter of GET /orders/{order_handle}/webhooks.
HISTORY_VALUES = ORDER_VALUES

_VALUE = re.compile(r"^[a-z0-9_]{1,64}$")


def check_event_type(entry: str) -> str | None:
    """Why ``entry`` is not a valid filter entry, or None when it is."""
    kind, dot, value = entry.partition(".")
    if kind not in EVENT_TYPES:
        return f"Unknown event type {kind!r}; use one of: {', '.join(sorted(EVENT_TYPES))}."
    if not dot:
        return None
    known = KNOWN_VALUES.get(kind)
    if known is not None and value not in known:
        return f"Unknown {kind} event {value!r}; use one of: {', '.join(sorted(known))}."
    if not _VALUE.match(value):
        return f"Not a valid event value: {value!r}."
    return None


def matches(event_types: Iterable[str] | None, kind: str, value: str) -> bool:
    """Whether an event of ``kind`` with ``value`` passes an endpoint's filter."""
    if event_types is None:
        return True
    wanted = set(event_types)
    return kind in wanted or f"{kind}.{value}" in wanted
