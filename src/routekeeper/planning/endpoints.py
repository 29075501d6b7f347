"""HTTP endpoints of plans (contract section 2.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from starlette.responses import Response

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import invalid_field
from routekeeper.core.pagination import decode_token, encode_token, page_keys
from routekeeper.core.responses import ERRORS_401_404_422, ERRORS_ALL
from routekeeper.core.routing import Router
from routekeeper.core.timefmt import format_ts, parse_ts
from routekeeper.core.wirejson import json_response
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
from routekeeper.planning import repository, service
from routekeeper.planning.schemas import (
    PlanFilters,
    PlanPage,
    PlanRead,
    PlanResponse,
    TriggerRequest,
)
from routekeeper.planning.wire import plan_wire
from routekeeper.routes.service import orders_of_routes
from routekeeper.views.tokens import embed_links

router = Router(tags=["Orders"])


def plan_reference(plan_id: str) -> dict[str, Any]:
    """The ``{message, plan: {id, href}}`` answer of a planning request."""
    return {"message": "Order Planning Initiated",
            "plan": {"id": plan_id, "href": f"/orders/plans/{plan_id}"}}


@router.get("/orders/plans", response_model=PlanPage, responses=ERRORS_401_404_422)
def list_plans(filters: Annotated[PlanFilters, Query()], account: CurrentAccount,
               session: ReadSession, settings: SettingsDep) -> Response:
    """List plans, newest first by default, with summaries on request."""
    fingerprint = filters.fingerprint()
    keys = page_keys(settings.signing_keys, "plans", account.account_id)
    after = None
    if filters.pagination_token:
        key = decode_token(keys, filters.pagination_token, fingerprint)
        try:
            after = (parse_ts(key[0]), str(key[1]))
        except (ValueError, IndexError) as exc:
            raise invalid_field("query", "pagination_token",
                                "Not a valid pagination token.") from exc
    rows = repository.list_plans(
        session, account.account_id, fulfillment_date=filters.fulfillment_date,
        ops_group_handle=filters.ops_group_handle,
        status=filters.status.value if filters.status else None,
        descending=filters.sort_direction.value == "desc", after=after, limit=filters.limit + 1,
    )
    token = None
    if len(rows) > filters.limit:
        rows = rows[: filters.limit]
        token = encode_token(keys,
                             [format_ts(rows[-1].created_at), rows[-1].plan_id], fingerprint)
    ids = [p.plan_id for p in rows]
    # Each route in full, as the contract's example shows plans (issue 15): the routes, then
    # their orders in one query, then the unplanned orders' mini form; a page of 50 plans is
    # about 2 MB, so it is rendered directly (core.wirejson), not re-validated.
    routes = repository.plan_routes_shown(session, account.account_id, ids)
    all_routes = [r for plan_routes in routes.values() for r in plan_routes]
    links = embed_links(settings, account)
    orders = repository.route_orders_rendered(
        session, account.account_id,
        {r.route_handle: links.route_embed(r.route_handle) for r in all_routes},
        f"{links.base}/t/")
    rendered = orders is not None
    if orders is None:
        orders = repository.route_orders_shown(session, account.account_id, all_routes)
    unplanned = repository.unplanned_items(session, account.account_id, ids)
    summaries = repository.summaries(session, account.account_id, ids) \
        if filters.include_summary else {}
    return json_response({
        "plans": [plan_wire(p, routes[p.plan_id], unplanned[p.plan_id],
                            summary=summaries.get(p.plan_id), route_orders=orders,
                            rendered=rendered, links=links) for p in rows],
        "pagination_token": token})


@router.get("/orders/plans/{plan_id}", response_model=PlanRead, responses=ERRORS_401_404_422)
def get_plan(plan_id: str, account: CurrentAccount, session: ReadSession,
             settings: SettingsDep) -> dict[str, Any]:
    """One plan with its full routes, unplanned orders and summary."""
    plan = service.get_plan(session, account.account_id, plan_id)
    routes = repository.plan_route_rows(session, account.account_id, [plan_id])[plan_id]
    unplanned = repository.unplanned_items(session, account.account_id, [plan_id])[plan_id]
    summary = repository.summaries(session, account.account_id, [plan_id])[plan_id]
    return plan_wire(plan, routes, unplanned, summary=summary,
                     route_orders=orders_of_routes(session, routes),
                     links=embed_links(settings, account))


@router.post("/orders/plans/{plan_id}/trigger", response_model=PlanResponse,
             responses=ERRORS_ALL)
def trigger_plan(plan_id: str, account: CurrentAccount, session: WriteSession,
                 body: TriggerRequest | None = None) -> dict[str, Any]:
    """Run planning again for a plan (a subset of its orders, a cohort of workers)."""
    body = body or TriggerRequest()
    plan = service.trigger(
        session, account.account_id, plan_id, mode=body.plan_mode,
        order_handles=[o.order_handle for o in body.orders] if body.orders else None,
        profile_filter=body.profile_filter,
        replan=body.replan.value if body.replan else None,
        max_moves_per_route=body.max_moves_per_route,
    )
    return plan_reference(plan.plan_id)
