"""The order state machine as a pure transition table (contract section 4.1).

``completed`` and ``cancelled`` are terminal: no action leads out of them.
"""

from __future__ import annotations

from enum import StrEnum

OrderStatus = StrEnum("OrderStatus", "UNPLANNED PLANNED ASSIGNED DISPATCHED"
                       " ONGOING DISABLED COMPLETED CANCELLED SUMMARIZING")


OrderAction = StrEnum(
    "OrderAction", "PLAN ASSIGN START COMPLETE CANCEL DISABLE ENABLE RESCHEDULE UNPLAN UPDATE"
)


TERMINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})
_LIVE = frozenset({OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.DISPATCHED,
                   OrderStatus.ONGOING, OrderStatus.DISABLED})

# action -> statuses it may start from. Targets that depend on the order's history
# (enable, reschedule) are resolved by ``target``.
ALLOWED_FROM: dict[OrderAction, frozenset[OrderStatus]] = {
    OrderAction.PLAN: frozenset({OrderStatus.UNPLANNED, OrderStatus.PLANNED, OrderStatus.ASSIGNED}),
    OrderAction.ASSIGN: frozenset({OrderStatus.UNPLANNED, OrderStatus.PLANNED,
                                   OrderStatus.ASSIGNED, OrderStatus.DISPATCHED}),
    OrderAction.START: frozenset({OrderStatus.UNPLANNED, OrderStatus.PLANNED,
                                  OrderStatus.ASSIGNED, OrderStatus.DISPATCHED}),
    # An order that was never on anyone's route cannot have been fulfilled.
    OrderAction.COMPLETE: _LIVE,
    OrderAction.CANCEL: _LIVE | {OrderStatus.UNPLANNED},
    OrderAction.DISABLE: frozenset({OrderStatus.PLANNED, OrderStatus.ASSIGNED,
                                    OrderStatus.DISPATCHED, OrderStatus.ONGOING}),
    OrderAction.ENABLE: frozenset({OrderStatus.DISABLED}),
    OrderAction.RESCHEDULE: _LIVE | {OrderStatus.UNPLANNED},
    OrderAction.UNPLAN: frozenset({OrderStatus.PLANNED, OrderStatus.ASSIGNED,
                                   OrderStatus.DISPATCHED, OrderStatus.DISABLED}),
    OrderAction.UPDATE: _LIVE | {OrderStatus.UNPLANNED},
}

# action -> the status it leads to whatever the order's history; the others (enable,
# reschedule) are resolved by ``target``, and ``update`` keeps the status.
FIXED_TARGET: dict[OrderAction, OrderStatus] = {
    OrderAction.PLAN: OrderStatus.PLANNED,
    OrderAction.ASSIGN: OrderStatus.ASSIGNED,
    OrderAction.START: OrderStatus.ONGOING,
    OrderAction.COMPLETE: OrderStatus.COMPLETED,
    OrderAction.CANCEL: OrderStatus.CANCELLED,
    OrderAction.DISABLE: OrderStatus.DISABLED,
    OrderAction.UNPLAN: OrderStatus.UNPLANNED,
}


def can(action: OrderAction, status: OrderStatus) -> bool:
    """Whether ``action`` is allowed on an order in ``status``."""
    return status in ALLOWED_FROM[action]


def target(
    action: OrderAction,
    status: OrderStatus,
    *,
    started: bool = False,
    assigned: bool = False,
    on_route: bool = False,
) -> OrderStatus:
    """The status after ``action`` (call ``can`` first); history flags pick between options."""
    fixed = FIXED_TARGET.get(action)
    if fixed is not None:
        return fixed
    if action is OrderAction.ENABLE:
        if started:
            return OrderStatus.ONGOING
        if assigned:
            return OrderStatus.ASSIGNED
        return OrderStatus.PLANNED if on_route else OrderStatus.UNPLANNED
    if action is OrderAction.RESCHEDULE:
        # A dispatched or started order is cancelled and re-created as a new attempt.
        if started or status in (OrderStatus.ONGOING, OrderStatus.DISPATCHED):
            return OrderStatus.CANCELLED
        return OrderStatus.UNPLANNED
    return status
