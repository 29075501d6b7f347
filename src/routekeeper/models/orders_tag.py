"""``route.orders_tag`` moves whenever any of the route's orders is written.

The tracking processor keeps each route's order rows in memory between batches and reads
them again only when the route's tag is no longer the one it read or wrote them with
(tracking/processor.py), so every write of an order has to give its route a new tag. ORM
flushes do here; the processor's own bulk estimate updates, which are not ORM flushes, do in
``tracking/routeorders.py`` (written by ``tracking/repository.update_order_tracking``).
Nothing else writes orders (``update(Order)`` and ``UPDATE "order"`` appear nowhere else).

The route's new tag is written before the flush's own statements: a writer that changes an
order locks its route first, in the order the processor takes them (route, then its
orders), so the two never deadlock over it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from routekeeper.models.order import Order
from routekeeper.models.route import Route, new_orders_tag

RouteKey = tuple[str, str]


def _routes_of(order: Order, *, was_too: bool) -> set[RouteKey]:
    """The routes an order is on (and, with ``was_too``, was on before this flush)."""
    handles = {order.route_handle}
    if was_too:
        handles.update(inspect(order).attrs.route_handle.history.deleted)
    return {(order.account_id, handle) for handle in handles if handle}


def touched_routes(session: Session) -> set[RouteKey]:
    """The routes whose orders this flush writes: new, changed or deleted orders' routes,
    and the route a changed order left."""
    keys: set[RouteKey] = set()
    for obj in session.new:
        if isinstance(obj, Order):
            keys |= _routes_of(obj, was_too=False)
    for obj in session.dirty:
        if isinstance(obj, Order) and session.is_modified(obj):
            keys |= _routes_of(obj, was_too=True)
    for obj in session.deleted:
        if isinstance(obj, Order):
            keys |= _routes_of(obj, was_too=True)
    return keys


@event.listens_for(Session, "before_flush")
def _retag_routes(session: Session, flush_context: Any, instances: Any) -> None:
    keys = touched_routes(session)
    if not keys:
        return
    for account_id, handle in sorted(keys):
        tag = new_orders_tag()
        present = session.identity_map.get(
            inspect(Route).identity_key_from_primary_key((account_id, handle)))
        if present is not None and present in session.new:
            present.orders_tag = tag  # inserted by this flush, with the tag
            continue
        session.connection().execute(
            update(Route)
            .where(Route.account_id == account_id, Route.route_handle == handle)
            .values(orders_tag=tag))
        if present is not None:
            set_committed_value(present, "orders_tag", tag)
