"""A place's move that moves its orders too (``update_associated_orders``).

The orders domain stays the only writer of orders (``orders.service.follow_place``); their
routes follow through the route aggregate (``routes.service.order_change``), locked before
the change and re-estimated after it, as every route operation does.
"""

from __future__ import annotations

from routekeeper.geocoding.service import Geocoder
from routekeeper.models.place import Place
from routekeeper.orders import service as orders
from routekeeper.places import service
from routekeeper.places.schemas import PlaceUpdate
from routekeeper.routes.context import RouteContext
from routekeeper.routes.service import order_change


def update_place(ctx: RouteContext, place_handle: str, body: PlaceUpdate, *,
                 geocoder: Geocoder | None, update_associated_orders: bool,
                 geometry_from_address: bool) -> Place:
    """Update a place; with ``update_associated_orders`` its open orders not yet under way
    move with a new location, and their routes follow."""
    session = ctx.session
    place = service.get_place(session, ctx.account_id, place_handle)
    moving = orders.orders_at_place(session, ctx.account_id, place.place_handle) \
        if update_associated_orders else []
    with order_change(ctx, *moving) as change:
        changed = service.update_place(session, place, body, geocoder=geocoder,
                                       geometry_from_address=geometry_from_address)
        change.follow = bool(moving) and bool(set(changed) & set(service.LOCATION_FIELDS))
        if change.follow:
            orders.follow_place(session, moving, place, public_url=ctx.public_url,
                                geocoder=geocoder)
    return place
