"""HTTP endpoints of orders (contract sections 2.1, 2.2 and 2.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Depends, Query, Request

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import invalid_field
from routekeeper.core.responses import ERRORS_401_404_422, ERRORS_ALL, R401, R409, R422
from routekeeper.core.routing import Router
from routekeeper.core.timefmt import parse_ts
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
from routekeeper.orders import repository, service
from routekeeper.orders.filters import OrderFilters
from routekeeper.orders.schemas import (
    CustomEvents,
    OrderActionBody,
    OrderDetail,
    OrderList,
    OrderPage,
    OrdersCreate,
    OrderType,
    OrderUpdate,
    Reschedule,
)
from routekeeper.orders.wire import order_detail_wire, order_wire
from routekeeper.routes.schemas import RouteRead
from routekeeper.settings import Settings

router = Router(tags=["Orders"])


@dataclass(frozen=True)
class Selector:
    """The per-order selector: ``type``, ``type_index``, ``fulfillment_attempt``."""

    type: str | None
    type_index: int | None
    fulfillment_attempt: int | None


def selector(
    type: OrderType | None = None,
    type_index: Annotated[int | None, Query(ge=0)] = None,
    fulfillment_attempt: Annotated[int | None, Query(ge=0)] = None,
) -> Selector:
    """Read the selector query parameters."""
    return Selector(type.value if type else None, type_index, fulfillment_attempt)


SelectorDep = Annotated[Selector, Depends(selector)]


def _detail(session: Any, order: Any, settings: Settings) -> dict[str, Any]:
    return order_detail_wire(order, settings.public_url, repository.timeline(session, order))


@router.get("/orders/", response_model=OrderPage, responses=ERRORS_401_404_422)
def list_orders(
    filters: Annotated[OrderFilters, Query()],  # type: ignore[valid-type]
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """List and filter orders, newest first by default, with cursor pagination."""
    rows, token = service.list_orders(
        session, account.account_id, filters, secret=settings.secret_key
    )
    return {"orders": [order_wire(o, settings.public_url) for o in rows],
            "pagination_token": token}


@router.post(
    "/orders/", status_code=201, response_model=OrderList | RouteRead,
    responses={**R401, **R409, **R422},
)
def create_orders(
    request: Request, body: OrdersCreate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Create a batch of orders; ``manual`` stores them ``unplanned``."""
    orders = service.create_orders(session, account.account_id, body)
    if body.worker is not None and body.plan_mode.value == "manual":
        # Manual mode with a worker: a route for that worker, in the posted sequence.
        from routekeeper.routes.manual import route_for_new_orders

        return route_for_new_orders(request, session, account.account_id, body.worker, orders)
    return {"orders": [order_wire(o, settings.public_url) for o in orders]}


def _lookup(session: Any, account_id: str, order_handle: str, selector: Selector) -> Any:
    return service.find_order(
        session, account_id, order_handle, type=selector.type,
        type_index=selector.type_index, fulfillment_attempt=selector.fulfillment_attempt,
    )


@router.get("/orders/{order_handle}", response_model=OrderDetail, responses=ERRORS_401_404_422)
def get_order(
    order_handle: str,
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    selector: SelectorDep,
    from_time: str | None = None,
    to_time: str | None = None,
) -> dict[str, Any]:
    """An order with its timeline (optionally only events between from_time and to_time)."""
    order = _lookup(session, account.account_id, order_handle, selector)
    data = _detail(session, order, settings)
    try:
        lo = parse_ts(from_time) if from_time else None
        hi = parse_ts(to_time) if to_time else None
    except ValueError as exc:
        raise invalid_field("query", "from_time" if from_time else "to_time", str(exc)) from exc
    if lo or hi:
        data["timeline"] = [
            e for e in data["timeline"]
            if (lo is None or e["recorded_at"] >= lo) and (hi is None or e["recorded_at"] <= hi)
        ]
    return data


@router.patch("/orders/{order_handle}", response_model=OrderDetail, responses=ERRORS_ALL)
def update_order(
    order_handle: str, body: OrderUpdate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep, selector: SelectorDep,
) -> dict[str, Any]:
    """Change an order's fields."""
    order = _lookup(session, account.account_id, order_handle, selector)
    order = service.update_order(session, account.account_id, order, body,
                                 public_url=settings.public_url)
    session.flush()
    return _detail(session, order, settings)


def _action_body(body: OrderActionBody | None) -> dict[str, Any] | None:
    return body.metadata if body else None


ActionBody = Annotated[OrderActionBody | None, Body()]


@router.post("/orders/{order_handle}/complete", response_model=OrderDetail, responses=ERRORS_ALL)
def complete_order(
    order_handle: str, account: CurrentAccount, session: WriteSession, settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Complete an order."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.complete_order(session, order, metadata=_action_body(body),
                           public_url=settings.public_url)
    session.flush()
    return _detail(session, order, settings)


@router.post("/orders/{order_handle}/cancel", response_model=OrderDetail, responses=ERRORS_ALL)
def cancel_order(
    order_handle: str, account: CurrentAccount, session: WriteSession, settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Cancel an order (a ``metadata`` object in the body is merged into the order's)."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.cancel_order(session, order, metadata=_action_body(body),
                         public_url=settings.public_url)
    session.flush()
    return _detail(session, order, settings)


@router.post("/orders/{order_handle}/disable", response_model=OrderDetail, responses=ERRORS_ALL)
def disable_order(
    order_handle: str, account: CurrentAccount, session: WriteSession, settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Disable an order: it stays on its route but out of the route's ETAs."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.disable_order(session, order, metadata=_action_body(body),
                          public_url=settings.public_url)
    session.flush()
    return _detail(session, order, settings)


@router.post("/orders/{order_handle}/enable", response_model=OrderDetail, responses=ERRORS_ALL)
def enable_order(
    order_handle: str, account: CurrentAccount, session: WriteSession, settings: SettingsDep,
    selector: SelectorDep, body: ActionBody = None,
) -> dict[str, Any]:
    """Enable a disabled order again."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.enable_order(session, order, metadata=_action_body(body),
                         public_url=settings.public_url)
    session.flush()
    return _detail(session, order, settings)


@router.post(
    "/orders/{order_handle}/reschedule", response_model=OrderDetail, responses=ERRORS_ALL
)
def reschedule_order(
    order_handle: str, body: Reschedule, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep, selector: SelectorDep,
) -> dict[str, Any]:
    """Move an order's time window (a started order is re-created as a new attempt)."""
    order = _lookup(session, account.account_id, order_handle, selector)
    result = service.reschedule_order(session, order, body, public_url=settings.public_url)
    session.flush()
    return _detail(session, result, settings)


@router.post(
    "/orders/{order_handle}/events", status_code=201, responses=ERRORS_401_404_422
)
def add_events(
    order_handle: str, body: CustomEvents, account: CurrentAccount, session: WriteSession,
    selector: SelectorDep,
) -> dict[str, Any]:
    """Append custom events to an order's timeline."""
    order = _lookup(session, account.account_id, order_handle, selector)
    service.add_custom_events(session, order, body)
    return {}
