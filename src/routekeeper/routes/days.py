"""Which day a route serves and which days an order's window allows (order reassignment).

A route serves one calendar day in its ops group's time zone: the day it started, else the
day it is scheduled to start, else the day its earliest stop is due, else the day it was
made. An order's window allows the days from its ``scheduled_after`` (else its
``scheduled_at``) to its ``scheduled_at`` in that time zone; an order without a window
allows any day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from routekeeper.models.order import Order
from routekeeper.models.route import Route


def local_day(at: datetime, timezone: str) -> date:
    """The calendar day of an instant in a time zone."""
    return at.astimezone(ZoneInfo(timezone)).date()


def route_day(route: Route, orders: Sequence[Order], timezone: str) -> date:
    """The day a route serves (see the module's docstring)."""
    due = [o.scheduled_at for o in orders if o.scheduled_at is not None]
    at = route.started_at or route.scheduled_start_at or (min(due) if due else None) \
        or route.created_at
    return local_day(at, timezone)


def allows(order: Order, day: date, timezone: str) -> bool:
    """Whether the order's window allows serving it on ``day``."""
    if order.scheduled_at is None:
        return True
    first = local_day(order.scheduled_after or order.scheduled_at, timezone)
    last = local_day(order.scheduled_at, timezone)
    return first <= day <= last
