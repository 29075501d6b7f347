"""When a place takes visits on a plan's day: its ``timings`` and ``closed_on`` as one window.

A place's opening hours are wall-clock times in the time zone of the ops group being
planned. The solver takes one time window per order, so several intervals on the same
weekday are joined into one, from the earliest opening to the latest closing (recorded in
docs/compatibility.md). A place without timings is open all day; a day in ``closed_on``, or
a weekday without timings when others have some, is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY = "all_day"
CLOSED = "closed"

Opening = tuple[datetime, datetime] | str


def opening_on(timings: Sequence[dict[str, Any]], closed_on: Sequence[str], day: date,
               timezone: str) -> Opening:
    """The UTC window in which a place takes visits on ``day``, ``ALL_DAY`` or ``CLOSED``."""
    if day.isoformat() in set(closed_on):
        return CLOSED
    if not timings:
        return ALL_DAY
    weekday = DAYS[day.weekday()]
    today = [t for t in timings if str(t.get("day_of_week", "")).lower() == weekday]
    if not today:
        return CLOSED
    zone = ZoneInfo(timezone)
    start = min(time.fromisoformat(str(t["start_time"])) for t in today)
    end = max(time.fromisoformat(str(t["end_time"])) for t in today)
    return (datetime.combine(day, start, zone).astimezone(UTC),
            datetime.combine(day, end, zone).astimezone(UTC))
