"""A worker's ``work_status`` ({available, tracking}): as set by the client, or kept up to
date by the server where the worker's ops group automates it (``work_status_automation``).

- ``{"type": "tracking"}``: ``tracking`` is whether the worker has a route being tracked.
- ``{"type": "available"}``: ``available`` is whether the worker is on shift now (its
  schedule, else its ops group's; planning then goes by the schedule alone).
- ``{"type": "manual"}`` or no entry: what ``POST /workers/{h}/work_status`` (or the
  worker's ``work_status`` / ``available``) last set.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.worker import Worker
from routekeeper.planning.availability import local_day, shift_on
from routekeeper.workers import repository

TRACKING = "tracking"
AVAILABLE = "available"


def automates(group: OpsGroup | None, kind: str) -> bool:
    """Whether the ops group's ``work_status_automation`` has the server keep ``kind``."""
    if group is None:
        return False
    return any(entry.get("type") == kind for entry in group.work_status_automation or [])


def on_shift(worker: Worker, group: OpsGroup, now: datetime) -> bool:
    """Whether ``now`` lies in one of the worker's shifts (yesterday's may run past midnight)."""
    today = local_day(now, group.timezone)
    for day in (today - timedelta(days=1), today):
        shift = shift_on(worker, group, day, by_schedule_only=True)
        if shift is not None and shift.start_at <= now < shift.end_at:
            return True
    return False


def work_statuses(
    session: Session, workers: Sequence[Worker], *, now: datetime,
) -> dict[str, dict[str, bool]]:
    """Each worker's ``work_status`` by handle (two queries for any number of workers)."""
    if not workers:
        return {}
    account_id = workers[0].account_id
    groups = {g.ops_group_handle: g for g in repository.ops_groups_named(
        session, account_id, (w.ops_group_handle for w in workers))}
    automated_tracking = [w.worker_handle for w in workers
                          if automates(groups.get(w.ops_group_handle), TRACKING)]
    tracking_now: set[str] = set()
    if automated_tracking:
        tracking_now = repository.workers_tracking(session, account_id, automated_tracking)
    found: dict[str, dict[str, bool]] = {}
    for worker in workers:
        group = groups.get(worker.ops_group_handle)
        available = bool(worker.available)
        if group is not None and automates(group, AVAILABLE):
            available = on_shift(worker, group, now)
        tracking = (worker.worker_handle in tracking_now
                    if automates(group, TRACKING) else bool(worker.tracking))
        found[worker.worker_handle] = {"available": available, "tracking": tracking}
    return found
