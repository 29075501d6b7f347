"""``POST /orders/`` with ``plan_mode`` scheduled or on_demand: queue planning, or wait for it."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.jobs import JobRunner
from routekeeper.core.links import Links
from routekeeper.db.engine import Database
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.planning import repository
from routekeeper.planning.endpoints import plan_reference
from routekeeper.planning.service import get_plan, request_planning
from routekeeper.planning.wire import plan_wire
from routekeeper.routes.service import orders_of_routes
from routekeeper.settings import Settings


def plan_new_orders(
    session: Session, account_id: str, orders: list[Order], *, mode: str, sync: bool,
    settings: Settings, db: Database, runner: JobRunner | None, links: Links,
    replan: str | None = None, max_moves_per_route: int | None = None,
) -> dict[str, Any]:
    """Queue planning of new orders; with ``sync`` (on_demand only) answer with the result
    (its routes' links are ``links``).

    ``replan`` (scheduled only) re-plans the rest of the day with them, see ``queue_run``.
    """
    group = session.get(OpsGroup, (account_id, orders[0].ops_group_handle))
    assert group is not None
    if mode != "scheduled":
        replan = max_moves_per_route = None
    plan = request_planning(session, account_id, group, orders, mode=mode, replan=replan,
                            max_moves_per_route=max_moves_per_route)
    if not (sync and mode == "on_demand"):
        return plan_reference(plan.plan_id)
    plan_id, sequence = plan.plan_id, plan.sequence_number
    # The run needs the orders committed; the request's own commit then has nothing left.
    session.commit()
    if runner is not None:
        runner.wake()
    deadline = time.monotonic() + settings.planning.time_budget_s + 30
    while time.monotonic() < deadline:
        with db.read() as reader:
            current = get_plan(reader, account_id, plan_id)
            if current.status != "planning" and current.sequence_number > sequence:
                routes = repository.plan_route_rows(reader, account_id, [plan_id])[plan_id]
                unplanned = repository.unplanned_rows(reader, account_id, [plan_id])[plan_id]
                summary = repository.summaries(reader, account_id, [plan_id])[plan_id]
                detail = plan_wire(current, routes, unplanned, summary=summary,
                                   route_orders=orders_of_routes(reader, routes),
                                   links=links)
                return {**plan_reference(plan_id), **detail}
        time.sleep(0.1)
    # No worker finished the run in time: answer as an asynchronous request does.
    return plan_reference(plan_id)
