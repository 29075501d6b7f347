"""What every route operation runs with, and the lookups they share.

``RouteContext`` carries the session, the tenant, settings and the travel model. The lookups
turn handles named in a request into rows, with the contract's errors when they name
nothing; ``lock_for_change`` is how every change to an existing route begins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from routekeeper.core.errors import CodedError, HttpError, RequestValidationFailed, conflict
from routekeeper.core.fields import check_text
from routekeeper.core.links import Links
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.order import Order
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
from routekeeper.orders import service as orders
from routekeeper.routes import repository
from routekeeper.routes.locations import LiveLocation
from routekeeper.routes.schemas import OrderRef
from routekeeper.routes.states import RouteStatus
from routekeeper.settings import Settings
from routekeeper.travel.base import TravelModel
from routekeeper.workers import service as workers


@dataclass
class RouteContext:
    """What every route operation needs: the session, the tenant, settings, travel,
    where workers are now (``live``, the tracking domain's answer, passed in), and the
    links answers carry (signed for the request's account; plain in a worker job)."""

    session: Session
    account_id: str
    settings: Settings
    travel: TravelModel
    live: LiveLocation
    links: Links

    @property
    def public_url(self) -> str:
        """The base of absolute links (embed and share URLs)."""
        return self.settings.public_url


def lookup_key(handle: str) -> bool:
    """Whether a handle can name a row at all; others (a NUL from a URL path, say) would be
    database errors on PostgreSQL, so they are simply not found."""
    try:
        check_text(handle)
    except ValueError:
        return False
    return 0 < len(handle) <= 200


def find_group(ctx: RouteContext, handle: str) -> OpsGroup:
    """An ops group by handle, or the contract's 400 ``ops_group_not_defined``."""
    group = ctx.session.get(OpsGroup, (ctx.account_id, handle)) if lookup_key(handle) else None
    if group is None:
        raise CodedError(400, "ops_group_not_defined", f"Ops group {handle} does not exist")
    return group


def find_worker(ctx: RouteContext, handle: str) -> Worker:
    """A worker by handle, or the contract's 404 ``driver_not_found`` / ``driver_deleted``."""
    if not lookup_key(handle):
        raise workers.worker_not_found(handle)
    return workers.live_worker(ctx.session, ctx.account_id, handle)


def route_worker(ctx: RouteContext, route: Route) -> Worker | None:
    """The route's worker row (even if since deleted: their start still places the route)."""
    if route.worker_handle is None:
        return None
    return ctx.session.get(Worker, (ctx.account_id, route.worker_handle))


def worker_for_device(ctx: RouteContext, device_id: str) -> Worker:
    """The live worker a device is linked to, or 404 ``device_not_found``."""
    for worker in ctx.session.query(Worker).filter(
        Worker.account_id == ctx.account_id, Worker.deleted_at.is_(None)
    ):
        if device_id in (worker.device_ids or []):
            return worker
    raise CodedError(404, "device_not_found", "Device could not be found", None)


def device_of(ctx: RouteContext, worker: Worker, device_id: str | None) -> str | None:
    """The device to track ``worker`` with: ``device_id`` when it is one of theirs, else
    their first device; an unknown device is 404, another worker's device 400."""
    if device_id is None:
        return next(iter(worker.device_ids or []), None)
    if device_id not in (worker.device_ids or []):
        owner = worker_for_device(ctx, device_id)
        raise CodedError(400, "driver_not_linked_to_device",
                         "Worker must be linked to a device first",
                         {"description": f"Device {device_id} is linked to worker "
                                         f"{owner.worker_handle}, not {worker.worker_handle}"})
    return device_id


def get_route(ctx: RouteContext, route_handle: str, *, lock: bool = False) -> Route:
    """A route of the account, or 404."""
    route = repository.get_route(ctx.session, ctx.account_id, route_handle, lock=lock) \
        if lookup_key(route_handle) else None
    if route is None:
        raise HttpError(404, "Route not found",
                        {"description": f"Route not found for handle {route_handle}"})
    return route


def lock_route(ctx: RouteContext, route_handle: str) -> Route | None:
    """The route, locked and re-read, or None when there is no such route (any more)."""
    return repository.get_route(ctx.session, ctx.account_id, route_handle, lock=True)


def lock_for_change(ctx: RouteContext, route_handle: str, version: int | None) -> Route:
    """The route, locked, when ``version`` (if given) is still its version; else a 409."""
    route = get_route(ctx, route_handle, lock=True)
    if version is not None and version != route.version:
        raise conflict("version_conflict", "Route was modified concurrently",
                       {"description": f"Route {route_handle} is at version {route.version}; "
                                       f"the request was made against version {version}.",
                        "current_version": route.version})
    return route


def require_open(route: Route) -> None:
    """A 409 for a change to a completed route."""
    if route.status == RouteStatus.COMPLETED:
        raise conflict("validation_error", "Route already completed",
                       {"description": f"Route {route.route_handle} is completed"})


def resolve_refs(
    ctx: RouteContext, refs: Sequence[OrderRef], *, lock: bool = True,
    location: str = "json", field: str = "orders",
) -> list[Order]:
    """The orders named in a request, in its sequence, locked for the change unless ``lock``
    is false; unknown ones are 404 ``order_not_found``, repeats a 422 at ``location``."""
    found: list[Order] = []
    seen: dict[str, int] = {}
    for index, ref in enumerate(refs):
        try:
            order = orders.find_order(
                ctx.session, ctx.account_id, ref.order_handle,
                type=ref.type.value if ref.type else None, type_index=ref.type_index,
            )
        except HttpError as exc:
            raise CodedError(404, "order_not_found", "Order Not Found",
                             {"description": f"Order not found for handle {ref.order_handle}"}
                             ) from exc
        if order.id in seen:
            raise RequestValidationFailed({location: {
                f"{field}.{index}.order_handle": [f"Repeats {field}.{seen[order.id]}."]}})
        seen[order.id] = index
        found.append(order)
    if lock:
        repository.lock_orders(ctx.session, found)
    return found
