"""The tracking domain as other domains see it.

``tracking/engine/`` is the pure position pipeline (no database, web, clock or I/O); the
glue beside it (ingest, apply, completion, devices, public tracking, route state) reads and
writes the database. Other domains call only what is named here (the import-linter contract
``tracking-facade`` keeps it so):

- ``worker_location``: where a worker is now, the provider a ``RouteContext`` is given;
- ``on_order_finished`` / ``on_route_completed``: the actuals an order or a route gets when
  it is completed or cancelled, in the transaction of that change;
- ``catch_up``: the fixes still waiting for a route processed first, in the transaction of
  a change that takes an order out of its tracking (``processor.catch_up``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routekeeper.models.route import Route
from routekeeper.settings import Settings
from routekeeper.tracking.completion import on_order_finished, on_route_completed
from routekeeper.tracking.locations import worker_location
from routekeeper.travel.base import TravelModel

__all__ = ["catch_up", "on_order_finished", "on_route_completed", "worker_location"]


def catch_up(session: Session, settings: Settings, travel: TravelModel, route: Route) -> int:
    """Process the fixes waiting for the devices that feed ``route`` (locked by the caller),
    in the caller's transaction; how many."""
    # Imported when called: the processor writes orders through orders.service, which
    # imports this module.
    from routekeeper.tracking import processor

    return processor.catch_up(session, settings, travel, route)
