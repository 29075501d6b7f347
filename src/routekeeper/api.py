"""Router wiring: literal ``/orders/<segment>`` routers come before ``/orders/{order_handle}``."""

from __future__ import annotations

from fastapi import FastAPI

from routekeeper.accounts.endpoints import router as auth_router
from routekeeper.console.endpoints import router as console_router
from routekeeper.core.bodies import document_bodies
from routekeeper.core.routing import anchor_paths_at_end
from routekeeper.exports.endpoints import router as exports_router
from routekeeper.ops.endpoints import router as ops_router
from routekeeper.order_tasks.endpoints import router as tasks_router
from routekeeper.orders.endpoints import router as orders_router
from routekeeper.orders.paths import document_unreachable_handles
from routekeeper.places.endpoints import router as places_router
from routekeeper.planning.endpoints import router as planning_router
from routekeeper.routes.endpoints import router as routes_router
from routekeeper.tracking.endpoints import READ_BODIES as devices_read_bodies
from routekeeper.tracking.endpoints import public_router as tracking_public_router
from routekeeper.tracking.endpoints import router as devices_router
from routekeeper.views.endpoints import install as install_views
from routekeeper.webhooks.endpoints import router as webhooks_router
from routekeeper.workers.endpoints import router as workers_router


def include_routers(app: FastAPI) -> None:
    """Mount every domain's endpoints in precedence order."""
    for router in (tasks_router, webhooks_router, orders_router):
        document_unreachable_handles(router.routes)
    # Devices report many times a second: their paths (/osmand, /owntracks, /devices/...)
    # collide with no other and are tried first, before a hundred other routes.
    app.include_router(tracking_public_router)
    app.include_router(devices_router)
    document_bodies(app, devices_read_bodies)
    app.include_router(ops_router)
    app.include_router(auth_router)
    app.include_router(workers_router)
    # Domains with literal paths under /orders/ (plans, routes, track, export, estimate)
    # are included here, before the orders router and its /orders/{order_handle}.
    app.include_router(planning_router)
    app.include_router(routes_router)
    app.include_router(exports_router)
    app.include_router(webhooks_router)
    app.include_router(tasks_router)
    app.include_router(orders_router)
    app.include_router(places_router)
    install_views(app)
    app.include_router(console_router)
    anchor_paths_at_end(app.router.routes)
