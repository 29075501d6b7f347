"""A device switch mid-route: another of the worker's devices reports while their route is
tracked (``device_switch_mode`` ``login`` or ``closest_to_destination``, routes/devices.py).

The route and its open orders take the reporting device, each open order's timeline gets a
``device_switched`` entry and each sends the ``device_switched`` webhook with
``previous_device_id`` and ``new_device_id`` (contract 5.2), in the upload's transaction.
A route in ``manual`` mode keeps its device: the other device's fixes still feed it (they
are the worker's), but nothing switches.
"""

from __future__ import annotations

from datetime import datetime

from routekeeper.models.route import Route
from routekeeper.orders.service import add_timeline
from routekeeper.orders.states import TERMINAL
from routekeeper.orders.wire import share_url
from routekeeper.routes.devices import follows_reports
from routekeeper.tracking.routeorders import RouteOrders
from routekeeper.webhooks.outbox import record_order_event

DEVICE_SWITCHED = "device_switched"


def switch_device(route: Route, orders: RouteOrders, device_id: str, *, worker_handle: str,
                  at: datetime, public_url: str) -> bool:
    """Put ``device_id`` (reporting now) on ``route`` and its open orders when the route
    follows its worker's reporting device; whether it switched."""
    if route.device_id == device_id or route.worker_handle != worker_handle:
        return False
    open_rows = [row for row in orders.rows if row.status not in TERMINAL]
    orders.load(row.id for row in open_rows)
    modes = [orders.orm(row.id).device_switch_mode for row in open_rows]
    if not open_rows or not follows_reports(next((m for m in modes if m), None)):
        return False
    previous = route.device_id
    route.device_id = device_id
    for row in open_rows:
        order = orders.orm(row.id)
        order.device_id = device_id
        add_timeline(orders.session, order, DEVICE_SWITCHED, recorded_at=at,
                     previous_device_id=previous, new_device_id=device_id,
                     device_id=device_id)
        record_order_event(orders.session, order, DEVICE_SWITCHED, recorded_at=at,
                           share_url=share_url(order, public_url),
                           previous_device_id=previous, new_device_id=device_id)
    return True
