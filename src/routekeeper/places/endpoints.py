"""HTTP endpoints of places (``/places/v1/``, contract Appendix C)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.pagination import page_keys
from routekeeper.core.responses import ERRORS_401_404_422, ERRORS_401_422, ERRORS_ALL
from routekeeper.core.routing import Router
from routekeeper.dependencies import (
    GeocoderDep,
    ReadSession,
    SettingsDep,
    WriteSession,
)
from routekeeper.places import flows, service
from routekeeper.places.schemas import (
    HistoryQuery,
    PlaceCreate,
    PlaceFilters,
    PlaceHistoryPage,
    PlacePage,
    PlaceRead,
    PlaceUpdate,
)
from routekeeper.routes.dependencies import ChangeContext

router = Router(tags=["Places"])
PLACE = "/places/v1/{place_handle}"


@router.get("/places/v1/", response_model=PlacePage, responses=ERRORS_401_422)
def list_places(filters: Annotated[PlaceFilters, Query()], account: CurrentAccount,
                session: ReadSession, settings: SettingsDep) -> dict[str, Any]:
    """List places (newest first by default) with cursor pagination."""
    rows, token, counts, aggregate = service.list_places(
        session, account.account_id, filters,
        secret=page_keys(settings.signing_keys, "places", account.account_id))
    return {"places": [service.place_wire(p, counts.get(p.place_handle, 0)) for p in rows],
            "pagination_token": token, "aggregate": aggregate}


@router.post("/places/v1/", response_model=PlaceRead, responses=ERRORS_ALL)
def create_place(body: PlaceCreate, account: CurrentAccount, session: WriteSession,
                 geocoder: GeocoderDep) -> dict[str, Any]:
    """Create a place; without geometry its address is geocoded."""
    place = service.create_place(session, account.account_id, body, geocoder=geocoder)
    return service.place_wire(place)


@router.get(PLACE, response_model=PlaceRead, responses=ERRORS_401_404_422)
def get_place(place_handle: str, account: CurrentAccount, session: ReadSession) -> dict[str, Any]:
    """One place."""
    place = service.get_place(session, account.account_id, place_handle)
    return service.place_wire(place, service.order_count(session, place))


@router.patch(PLACE, response_model=PlaceRead, responses=ERRORS_ALL)
def update_place(
    place_handle: str, body: PlaceUpdate, ctx: ChangeContext, geocoder: GeocoderDep,
    update_associated_orders: bool = False, update_geometry_using_address: bool = False,
) -> dict[str, Any]:
    """Update a place; optionally re-geocode it and move its open orders with it."""
    session = ctx.session
    place = flows.update_place(ctx, place_handle, body, geocoder=geocoder,
                               update_associated_orders=update_associated_orders,
                               geometry_from_address=update_geometry_using_address)
    return service.place_wire(place, service.order_count(session, place))


@router.delete(PLACE, responses=ERRORS_401_404_422)
def delete_place(place_handle: str, account: CurrentAccount,
                 session: WriteSession) -> dict[str, Any]:
    """Delete a place (orders keep the destination they took from it)."""
    service.delete_place(session, service.get_place(session, account.account_id, place_handle))
    return {}


@router.get(f"{PLACE}/history", response_model=PlaceHistoryPage, responses=ERRORS_401_404_422)
def place_history(place_handle: str, query: Annotated[HistoryQuery, Query()],
                  account: CurrentAccount, session: ReadSession,
                  settings: SettingsDep) -> dict[str, Any]:
    """The audited changes of a place, newest first."""
    place_id, entries, token = service.history_page(
        session, account.account_id, place_handle, query,
        secret=page_keys(settings.signing_keys, "place_history", account.account_id))
    return {"place_id": place_id, "place_handle": place_handle, "pagination_token": token,
            "history": [{"audit_id": e.audit_id, "changed_at": e.changed_at,
                         "changed_by": e.changed_by, "operation": e.operation,
                         "changes": e.changes} for e in entries]}
