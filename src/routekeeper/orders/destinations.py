"""Where a new order goes: its destination resolved from geometry, a place, or an address.

A batch is resolved before anything is stored: places are read in one query each way, and
the address-only destinations are geocoded together (concurrently, through the account's
cache). Every address that resolves to nothing is reported at once in one 422, and a
geocoder that cannot be reached is a 503: either way nothing of the batch is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.errors import CodedError, RequestValidationFailed
from routekeeper.geocoding.nominatim import AddressQuery, GeocoderUnavailable
from routekeeper.geocoding.service import Geocoder, not_configured, unavailable
from routekeeper.models.place import Place
from routekeeper.orders.schemas import DEFAULT_ADDRESS_RADIUS_M, DestinationIn
from routekeeper.places import service as places


@dataclass(frozen=True)
class Wanted:
    """One destination to resolve, and how to name it in an error."""

    destination: DestinationIn
    path: str  # e.g. "orders.3.destination"
    order_handle: str


@dataclass(frozen=True)
class Resolved:
    """A destination as stored, its region when already known, and the place's defaults."""

    destination: dict[str, Any]
    region: dict[str, Any] | None = None
    expected_service_time: int | None = None


def address_query(destination: DestinationIn) -> AddressQuery:
    """The geocoder query of an address-only destination."""
    parts = destination.address_components
    return AddressQuery(
        text=(destination.address or "").strip(),
        street=parts.street if parts else None, city=parts.city if parts else None,
        state=parts.state if parts else None, country=parts.country if parts else None,
        postal_code=parts.postal_code if parts else None,
    )


def _from_place(place: Place, wanted: DestinationIn) -> Resolved:
    destination: dict[str, Any] = {"geometry": place.geometry}
    if place.geometry.get("type") == "Point":
        destination["radius"] = wanted.radius or place.radius or 100
    destination["address"] = wanted.address or place.address
    destination["place_handle"] = place.place_handle
    destination["place_id"] = place.place_id
    if wanted.geofence_id:
        destination["geofence_id"] = wanted.geofence_id
    return Resolved(destination, place.region, place.expected_service_time)


def _place_errors(missing_handles: list[Wanted], missing_ids: list[Wanted]) -> None:
    if missing_handles:
        first = missing_handles[0]
        handle = first.destination.place_handle
        raise CodedError(
            400, "destination_place_not_found", "No place for place_handle in order destination",
            {"description": f"No place found for place_handle {handle} (order "
                            f"{first.order_handle}); create it with POST /places/v1/ first.",
             "place_handle": handle, "order_handle": first.order_handle},
        )
    if missing_ids:
        first = missing_ids[0]
        raise CodedError(
            404, "geofence_not_found", "Geofence Not Found",
            {"description": f"No geofence (place) with id {first.destination.geofence_id} "
                            f"(order {first.order_handle}).",
             "geofence_id": first.destination.geofence_id, "order_handle": first.order_handle},
        )


def _geocode(session: Session, account_id: str, wanted: Sequence[Wanted], to_geocode: list[int],
             out: list[Resolved | None], *, geocoder: Geocoder | None) -> None:
    """Fill ``out`` at ``to_geocode`` from the addresses, or raise (no geocoder, geocoder
    down, an address with no location)."""
    if geocoder is None:
        first = wanted[to_geocode[0]]
        raise not_configured("json", f"{first.path}.address", "An address-only destination")
    try:
        found = geocoder.geocode(session, account_id,
                                 [address_query(wanted[i].destination) for i in to_geocode])
    except GeocoderUnavailable as exc:
        raise unavailable(exc, geocoder.settings.retry_after_s) from exc
    errors: dict[str, list[str]] = {}
    for index, hit in zip(to_geocode, found, strict=True):
        item = wanted[index]
        if hit is None:
            errors[f"{item.path}.address"] = [
                f"No location found for the address {item.destination.address!r} of "
                f"order {item.order_handle}."]
            continue
        out[index] = Resolved({
            "geometry": {"type": "Point", "coordinates": [hit.lon, hit.lat]},
            "radius": item.destination.radius or DEFAULT_ADDRESS_RADIUS_M,
            "address": item.destination.address,
        }, hit.region)
    if errors:
        raise RequestValidationFailed({"json": errors})


def resolve(
    session: Session, account_id: str, wanted: Sequence[Wanted], *,
    geocoder: Geocoder | None,
) -> list[Resolved]:
    """Resolve every destination of a batch, or raise without having stored anything."""
    by_handle = places.by_handles(session, account_id, [
        w.destination.place_handle for w in wanted
        if w.destination.geometry is None and w.destination.place_handle])
    by_id = places.by_ids(session, account_id, [
        w.destination.geofence_id for w in wanted
        if w.destination.geometry is None and not w.destination.place_handle
        and w.destination.geofence_id])
    out: list[Resolved | None] = []
    missing_handles: list[Wanted] = []
    missing_ids: list[Wanted] = []
    to_geocode: list[int] = []
    for index, item in enumerate(wanted):
        d = item.destination
        if d.geometry is not None:
            out.append(Resolved(d.stored()))
        elif d.place_handle:
            place = by_handle.get(d.place_handle)
            out.append(_from_place(place, d) if place else None)
            if place is None:
                missing_handles.append(item)
        elif d.geofence_id:
            place = by_id.get(d.geofence_id)
            out.append(_from_place(place, d) if place else None)
            if place is None:
                missing_ids.append(item)
        else:
            out.append(None)
            to_geocode.append(index)
    _place_errors(missing_handles, missing_ids)
    if to_geocode:
        _geocode(session, account_id, wanted, to_geocode, out, geocoder=geocoder)
    return [r for r in out if r is not None]
