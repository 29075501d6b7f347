"""Wire shapes of plans and planning requests (contract 2.5, 3.6)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routekeeper.core.query_filters import PageLimit
from routekeeper.core.timefmt import ApiDatetime
from routekeeper.orders.schemas import SortDirection
from routekeeper.routes.schemas import RouteRead

PlanStatus = StrEnum("PlanStatus", "PLANNING COMPLETED FAILED")


class PlanFilters(BaseModel):
    """The query of ``GET /orders/plans``."""

    model_config = ConfigDict(extra="forbid")

    fulfillment_date: str | None = None
    ops_group_handle: str | None = None
    status: PlanStatus | None = None
    sort_direction: SortDirection = SortDirection.DESC
    include_summary: bool = False
    limit: PageLimit = 50
    pagination_token: str | None = None

    @field_validator("fulfillment_date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("Not a valid date; expected YYYY-MM-DD.") from exc
        return value

    def fingerprint(self) -> dict[str, Any]:
        """The filter values a pagination token is bound to."""
        return self.model_dump(mode="json", exclude_none=True,
                               exclude={"limit", "pagination_token", "include_summary"})


class PlanRef(BaseModel):
    """``Plan``: the async handle of a planning run."""

    id: str
    href: str


class PlanResponse(BaseModel):
    """``PlanResponse`` / ``PlanOrdersResponse``."""

    message: str = "Order Planning Initiated"
    plan: PlanRef


class TriggerOrder(BaseModel):
    """One order of a trigger's subset."""

    model_config = ConfigDict(extra="ignore")

    order_handle: str = Field(min_length=1)


# How far a re-plan of the rest of the day may change routes being driven (extension).
ReplanMode = StrEnum("ReplanMode", "KEEP_WITH_WORKER ALLOW_MOVES FREE")


class TriggerRequest(BaseModel):
    """Body of ``POST /orders/plans/{plan_id}/trigger``."""

    model_config = ConfigDict(extra="ignore")

    orders: list[TriggerOrder] | None = Field(default=None, min_length=1, max_length=10_000)
    plan_mode: str = Field(default="on_demand", pattern="^(scheduled|on_demand)$")
    profile_filter: dict[str, Any] | None = None
    # Extension: include routes being driven (docs/compatibility.md).
    replan: ReplanMode | None = None
    # Extension: with replan allow_moves or free, at most this many open orders of each
    # included route may go to another worker (or off it); its earliest stay with its worker.
    max_moves_per_route: int | None = Field(default=None, ge=0, le=10_000)


class PlanListRoute(BaseModel):
    """``PlanListRoute``: a route as listed in a plan list item."""

    route_handle: str
    status: str


class PlanRead(BaseModel):
    """A plan (``PlanListResponse`` / ``GetPlanResponse``)."""

    model_config = ConfigDict(extra="allow")

    plan_id: str
    status: str
    sequence_number: int
    fulfillment_date: str
    ops_group_handle: str
    created_at: ApiDatetime
    started_at: ApiDatetime
    completed_at: ApiDatetime | None = None
    failure_reason: str | None = None
    routes: list[RouteRead | PlanListRoute] = Field(default_factory=list)
    unplanned_orders: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any] | None = None


class PlanPage(BaseModel):
    """``GetPlansResponse``."""

    plans: list[PlanRead]
    pagination_token: str | None = None


class PlanResult(PlanRead):
    """A synchronous on_demand answer: the planning handle plus the plan it produced."""

    message: str = "Order Planning Initiated"
    plan: PlanRef

