"""Which workers can work on a day, and when: schedules in the ops group's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.worker import Worker

_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


@dataclass(frozen=True, slots=True)
class BreakWindow:
    """A break in a shift: ``duration_s`` long, from ``after_at`` on, over by ``before_at``."""

    after_at: datetime
    before_at: datetime
    duration_s: int


@dataclass(frozen=True, slots=True)
class Shift:
    """A worker's working time on a day, as aware UTC instants, with its breaks."""

    start_at: datetime
    end_at: datetime
    breaks: tuple[BreakWindow, ...] = ()


def day_start(day: date, timezone: str) -> datetime:
    """Local midnight of ``day`` in ``timezone`` as a UTC instant."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar day of an instant in ``timezone``."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def _at(day: date, hhmm: str, timezone: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    local = datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def _span(day: date, start: str, end: str, timezone: str) -> Shift:
    start_at = _at(day, start, timezone)
    end_at = _at(day, end, timezone)
    if end_at <= start_at:  # an overnight shift ends the next day
        end_at = _at(day + timedelta(days=1), end, timezone)
    return Shift(start_at, end_at)


def _minutes(hhmm: str) -> int:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return hours * 60 + minutes


def _breaks(entry: dict[str, Any], shift: Shift) -> list[BreakWindow]:
    """An entry's breaks as instants, counted from its shift's start (so past midnight too)."""
    start = _minutes(str(entry["start_time"]))
    found = []
    for rest in entry.get("breaks") or []:
        after = (_minutes(rest["after"]) - start) % 1440
        before = (_minutes(rest["before"]) - start) % 1440
        found.append(BreakWindow(shift.start_at + timedelta(minutes=after),
                                 shift.start_at + timedelta(minutes=before),
                                 int(rest["duration"])))
    return found


def _entries_of_day(entries: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """The schedule entries of ``day``: its dated ones, else its weekday's."""
    dated = [e for e in entries if e.get("date") == day.isoformat()]
    return dated or [e for e in entries if e.get("day_of_week") == _DAYS[day.weekday()]]


def _joined(chosen: list[dict[str, Any]], day: date, tz: str) -> Shift:
    """One shift from the earliest start to the latest end, with every entry's breaks."""
    spans = [_span(day, e["start_time"], e["end_time"], tz) for e in chosen]
    breaks = sorted((b for e, s in zip(chosen, spans, strict=True) for b in _breaks(e, s)),
                    key=lambda b: (b.after_at, b.before_at))
    return Shift(min(s.start_at for s in spans), max(s.end_at for s in spans), tuple(breaks))


def _schedule_automated(group: OpsGroup) -> bool:
    # work_status_automation {"type": "available"}: the schedule alone says who works when.
    return any(e.get("type") == "available" for e in group.work_status_automation or [])


def shift_on(worker: Worker, group: OpsGroup, day: date, *,
             by_schedule_only: bool = False) -> Shift | None:
    """The worker's shift on ``day``, or None when the worker does not work that day.

    Dated entries win over recurring ones; several entries give one shift from the
    earliest start to the latest end, with the breaks of all of them. Without any schedule
    the ops group's ``schedule`` applies (the default availability of its workers), then its
    default shift, and without those the whole day. An unavailable worker (``work_status``)
    has no shift, unless ``by_schedule_only`` or the group automates availability.
    """
    if worker.deleted_at is not None:
        return None
    if not (worker.available or by_schedule_only or _schedule_automated(group)):
        return None
    if day.isoformat() in (worker.unavailable_on or []):
        return None
    entries = [
        e for e in (worker.schedule or [])
        if e.get("ops_group_handle") in (None, group.ops_group_handle)
    ] or list(group.schedule or [])
    tz = group.timezone
    chosen = _entries_of_day(entries, day)
    if chosen:
        return _joined(chosen, day, tz)
    if entries:
        return None  # has a schedule, but not on this day
    if group.default_shift_start_time and group.default_shift_end_time:
        return _span(day, group.default_shift_start_time, group.default_shift_end_time, tz)
    start = day_start(day, tz)
    return Shift(start, day_start(day + timedelta(days=1), tz))
