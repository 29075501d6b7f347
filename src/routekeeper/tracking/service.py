"""The tracking domain as other domains see it.

``tracking/engine/`` is the pure position pipeline (no database, web, clock or I/O); the
glue beside it (ingest, apply, completion, devices, public tracking, route state) reads and
writes the database. Other domains call only what is named here (the import-linter contract
``tracking-facade`` keeps it so):

- ``worker_location``: where a worker is now, the provider a ``RouteContext`` is given;
- ``on_order_finished`` / ``on_route_completed``: the actuals an order or a route gets when
  it is completed or cancelled, in the transaction of that change.
"""

from __future__ import annotations

from routekeeper.tracking.completion import on_order_finished, on_route_completed
from routekeeper.tracking.locations import worker_location

__all__ = ["on_order_finished", "on_route_completed", "worker_location"]
