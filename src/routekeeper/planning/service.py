"""Asking for plans: one plan per ops group and day, runs queued as durable jobs.

``POST /orders/`` with ``plan_mode`` scheduled or on_demand stores the orders, finds (or
creates) the plan of each order's day and queues one run per plan. A run that is queued
and not started yet absorbs later requests; a run under way makes a trigger a 409.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, HttpError, conflict
from routekeeper.core.ids import new_id
from routekeeper.core.jobs import enqueue
from routekeeper.models.job import Job
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.plan import Plan
from routekeeper.planning.availability import local_day

PLAN_TASK = "planning.solve"


def fulfillment_day(order: Order, group: OpsGroup) -> date:
    """The day an order belongs to: its deadline's (else window start's) local day."""
    instant = order.scheduled_at or order.scheduled_after or order.created_at
    return local_day(instant, group.timezone)


def plan_for_day(session: Session, account_id: str, group: OpsGroup, day: date) -> Plan:
    """The plan of ``group`` on ``day``, created when missing."""
    existing = session.scalars(
        select(Plan).where(Plan.account_id == account_id,
                           Plan.ops_group_handle == group.ops_group_handle,
                           Plan.fulfillment_date == day.isoformat())
        .with_for_update()
    ).first()
    if existing is not None:
        return existing
    now = utcnow()
    plan = Plan(account_id=account_id, plan_id=new_id(), ops_group_handle=group.ops_group_handle,
                fulfillment_date=day.isoformat(), status="planning", sequence_number=0,
                created_at=now, updated_at=now)
    session.add(plan)
    session.flush()
    return plan


def _running(session: Session, plan: Plan) -> bool:
    """Whether a run of this plan has started and not finished."""
    return plan.status == "planning" and plan.pending_job_id is None and plan.sequence_number > 0


def queue_run(
    session: Session, plan: Plan, *, mode: str, order_ids: Sequence[str] | None = None,
    profile_filter: dict[str, object] | None = None, replan: str | None = None,
    max_moves_per_route: int | None = None,
) -> None:
    """Queue a planning run of ``plan`` unless one is already queued and not started.

    ``replan`` includes the routes being driven (keep_with_worker, allow_moves or free);
    ``max_moves_per_route`` caps how many open orders of each route may change worker.
    """
    if plan.pending_job_id is not None:
        pending = session.get(Job, plan.pending_job_id)
        if (pending is not None and pending.status == "queued"
                and order_ids is None and profile_filter is None and replan is None):
            return
    job = enqueue(
        session, PLAN_TASK,
        {"plan_id": plan.plan_id, "mode": mode,
         "order_ids": list(order_ids) if order_ids is not None else None,
         "profile_filter": profile_filter, "replan": replan,
         "max_moves_per_route": max_moves_per_route},
        account_id=plan.account_id, max_attempts=3,
    )
    plan.pending_job_id = job.id
    plan.status = "planning"
    plan.plan_mode = mode
    plan.updated_at = utcnow()


def request_planning(
    session: Session, account_id: str, group: OpsGroup, orders: Sequence[Order], *, mode: str,
    replan: str | None = None, max_moves_per_route: int | None = None,
) -> Plan:
    """Attach new orders to their days' plans and queue runs; returns the first plan."""
    by_day: dict[date, list[Order]] = defaultdict(list)
    for order in orders:
        by_day[fulfillment_day(order, group)].append(order)
    plans = []
    for day in sorted(by_day):
        plan = plan_for_day(session, account_id, group, day)
        for order in by_day[day]:
            order.plan_id = plan.plan_id
        queue_run(session, plan, mode=mode, replan=replan,
                  max_moves_per_route=max_moves_per_route)
        plans.append(plan)
    return plans[0]


def get_plan(session: Session, account_id: str, plan_id: str, *, lock: bool = False) -> Plan:
    """A plan of the account, or 404."""
    plan = session.get(Plan, (account_id, plan_id), with_for_update=lock or None)
    if plan is None:
        raise HttpError(404, "Plan not found", {"description": f"Plan {plan_id} not found"})
    return plan


def trigger(
    session: Session, account_id: str, plan_id: str, *, mode: str,
    order_handles: Sequence[str] | None, profile_filter: dict[str, object] | None,
    replan: str | None = None, max_moves_per_route: int | None = None,
) -> Plan:
    """Re-run planning for a plan (optionally only some of its orders, some workers)."""
    plan = get_plan(session, account_id, plan_id, lock=True)
    if _running(session, plan):
        raise conflict("planning_in_progress", "A planning request is already executing",
                       {"description": f"Plan {plan_id} is being planned; try again later."})
    order_ids = None
    if order_handles is not None:
        rows = session.scalars(
            select(Order).where(Order.account_id == account_id, Order.plan_id == plan_id,
                                Order.order_handle.in_(list(order_handles)))
        ).all()
        found = {o.order_handle for o in rows}
        missing = [h for h in order_handles if h not in found]
        if missing:
            raise CodedError(404, "order_not_found", "Order Not Found",
                             {"description": f"Orders not in this plan: {', '.join(missing)}"})
        order_ids = [o.id for o in rows]
    queue_run(session, plan, mode=mode, order_ids=order_ids, profile_filter=profile_filter,
              replan=replan, max_moves_per_route=max_moves_per_route)
    return plan
