"""How the views say things: local times, distances, durations, statuses and risks."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routekeeper.core.timefmt import format_ts, parse_ts

STATUS_LABELS = {
    "unplanned": "Unplanned", "planned": "Planned", "assigned": "Assigned",
    "dispatched": "Dispatched", "ongoing": "Ongoing", "arrived": "On site",
    "disabled": "Paused", "completed": "Completed", "cancelled": "Cancelled",
    "summarizing": "Completed", "tracking": "Tracking",
}
RISK_LABELS = {
    "delayed_from_scheduled_at": "Late for its window",
    "delayed_from_initial_eta": "Later than first estimated",
    "is_offline": "Worker offline",
    "deviating_from_expected_route": "Off the planned route",
    "moving_away_from_destination": "Moving away",
    "in_low_battery": "Low battery",
    "moving_too_slow": "Moving slowly",
    "in_outage": "Tracking outage",
}
_RISK_RANK = {"green": 0, "yellow": 1, "red": 2}
# Distinct, colour-blind-friendly line colours for the routes of the board (Okabe-Ito + more).
ROUTE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                 "#7B3294", "#8C510A", "#1B7837", "#B2182B")


def zone(name: str | None) -> ZoneInfo:
    """The time zone called ``name``, UTC when it is unknown or missing."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def instant(value: Any) -> datetime | None:
    """A datetime from a stored value (datetime or ISO text); None when it is not one."""
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def clock_text(value: Any, tz: ZoneInfo, now: datetime) -> str | None:
    """``14:05`` on the local day of ``now``, else ``3 Nov 14:05``, in ``tz``."""
    moment = instant(value)
    if moment is None:
        return None
    local = moment.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


def iso(value: Any) -> str | None:
    """The wire form of a stored time, or None."""
    moment = instant(value)
    return format_ts(moment) if moment is not None else None


def distance_text(metres: Any) -> str | None:
    """``850 m`` or ``12.3 km``."""
    if metres is None:
        return None
    value = float(metres)
    return f"{value:.0f} m" if value < 1000 else f"{value / 1000:.1f} km"


def duration_text(seconds: Any) -> str | None:
    """``25 min`` or ``1 h 05 min``."""
    if seconds is None:
        return None
    minutes = round(float(seconds) / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def stop_status(status: str, arrived: bool) -> str:
    """The status a stop is coloured by: an ongoing order whose worker is on site is
    ``arrived``."""
    return "arrived" if status == "ongoing" and arrived else status


def worst_risk(risks: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """The highest risk label of an order and the names of its risks above green."""
    level = None
    names = []
    for name, label in (risks or {}).items():
        text = label.get("intensity_label") if isinstance(label, dict) else label
        if not isinstance(text, str) or text not in _RISK_RANK:
            continue
        if _RISK_RANK[text] > 0:
            names.append(RISK_LABELS.get(name, name.replace("_", " ")))
        if level is None or _RISK_RANK[text] > _RISK_RANK[level]:
            level = text
    return level, sorted(names)


def first_name(name: str | None) -> str | None:
    """The first word of a worker's name."""
    words = (name or "").split()
    return words[0] if words else None
