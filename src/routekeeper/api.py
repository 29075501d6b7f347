"""Router wiring: literal ``/orders/<segment>`` routers come before ``/orders/{order_handle}``."""

from __future__ import annotations

from fastapi import FastAPI

from routekeeper.accounts.endpoints import router as auth_router
from routekeeper.orders.endpoints import router as orders_router
from routekeeper.routes.endpoints import router as routes_router
from routekeeper.workers.endpoints import router as workers_router


def include_routers(app: FastAPI) -> None:
    """Mount every domain's endpoints in precedence order."""
    app.include_router(auth_router)
    app.include_router(workers_router)
    # Domains with literal paths under /orders/ (plans, routes, track, export, estimate)
    # are included here, before the orders router and its /orders/{order_handle}.
    app.include_router(routes_router)
    app.include_router(orders_router)
