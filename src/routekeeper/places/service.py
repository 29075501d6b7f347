"""Place rules: create, update (optionally moving the orders at the place), delete, history.

Every change is audited in ``place_history`` in the same transaction, as ``{field: {old,
new}}``; an address without geometry is geocoded before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import conflict, invalid_field, not_found
from routekeeper.core.ids import new_id
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.core.timefmt import format_ts
from routekeeper.geocoding.nominatim import AddressQuery, GeocoderUnavailable
from routekeeper.geocoding.service import Geocoder, not_configured, unavailable
from routekeeper.models.place import Place, PlaceHistory
from routekeeper.places import repository
from routekeeper.places.schemas import (
    DEFAULT_PLACE_RADIUS_M,
    HistoryQuery,
    PlaceCreate,
    PlaceFields,
    PlaceFilters,
    PlaceUpdate,
    SortBy,
)

# The fields a client sets, and the place attribute each is kept in.
FIELDS = {
    "name": "name", "geometry": "geometry", "radius": "radius", "address": "address",
    "address_components": "address_components", "place_type": "place_type",
    "timings": "timings", "closed_on": "closed_on",
    "expected_service_time": "expected_service_time", "metadata": "metadata_",
    "parkings": "parkings", "checkins": "checkins",
    "visit_detection_config": "visit_detection_config",
}
LOCATION_FIELDS = ("geometry", "radius", "address")


def by_handles(session: Session, account_id: str, handles: Iterable[str]) -> dict[str, Place]:
    """The account's places named by ``handles``."""
    return repository.by_handles(session, account_id, handles)


def by_ids(session: Session, account_id: str, ids: Iterable[str]) -> dict[str, Place]:
    """The account's places with these ids (an order's ``geofence_id`` is a ``place_id``)."""
    return repository.by_ids(session, account_id, ids)


def get_place(session: Session, account_id: str, handle: str) -> Place:
    """One place, or a 404."""
    if "\x00" in handle:
        # No stored handle has one, and PostgreSQL refuses NUL in a parameter.
        raise not_found("Place", handle.replace("\x00", ""))
    place = repository.by_handle(session, account_id, handle)
    if place is None:
        raise not_found("Place", handle)
    return place


def _wire_value(body: PlaceFields, name: str) -> Any:
    value = getattr(body, name)
    if value is None:
        return None
    if name in ("timings", "parkings", "checkins"):
        return [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value.value if hasattr(value, "value") else value


def _geocode(session: Session, account_id: str, body: PlaceFields, address: str | None,
             geocoder: Geocoder | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A Point geometry and region for an address, or the contract's 422/503."""
    if geocoder is None:
        raise not_configured("json", "address", "A place without geometry")
    parts = body.address_components
    query = AddressQuery(
        text=(address or "").strip(), street=parts.street if parts else None,
        city=parts.city if parts else None, state=parts.state if parts else None,
        country=parts.country if parts else None,
        postal_code=parts.postal_code if parts else None)
    try:
        [found] = geocoder.geocode(session, account_id, [query])
    except GeocoderUnavailable as exc:
        raise unavailable(exc, geocoder.settings.retry_after_s) from exc
    if found is None:
        raise invalid_field("json", "address", f"No location found for the address {address!r}.")
    return {"type": "Point", "coordinates": [found.lon, found.lat]}, found.region


def _center(geometry: dict[str, Any]) -> tuple[float, float]:
    if geometry["type"] == "Point":
        return float(geometry["coordinates"][0]), float(geometry["coordinates"][1])
    ring = geometry["coordinates"][0][:-1]
    return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))


def _region(session: Session, account_id: str, geometry: dict[str, Any],
            geocoder: Geocoder | None) -> dict[str, Any] | None:
    if geocoder is None:
        return None
    [region] = geocoder.regions(session, account_id, [_center(geometry)],
                                wait_s=geocoder.settings.region_wait_s)
    return region or None


def _audit(session: Session, place: Place, operation: str, changes: dict[str, Any],
           actor: dict[str, Any], now: datetime) -> None:
    session.add(PlaceHistory(
        account_id=place.account_id, audit_id=new_id(), place_id=place.place_id,
        place_handle=place.place_handle, operation=operation, changes=changes,
        changed_by=actor, changed_at=now))


def _actor(source: str, now: datetime) -> dict[str, Any]:
    return {"source": source, "timestamp": format_ts(now)}


def create_place(session: Session, account_id: str, body: PlaceCreate, *,
                 geocoder: Geocoder | None) -> Place:
    """Create a place (its geometry geocoded from the address when none is given)."""
    place_id = new_id()
    handle = body.place_handle or place_id
    if repository.by_handle(session, account_id, handle) is not None:
        raise conflict("duplicate_resource", "Duplicate place handle found",
                       {"description": f"A place with handle {handle} exists already.",
                        "place_handle": handle})
    region: dict[str, Any] | None = None
    if body.geometry is not None:
        geometry = body.geometry.model_dump(mode="json")
    else:
        geometry, region = _geocode(session, account_id, body, body.address, geocoder)
    if region is None:
        region = _region(session, account_id, geometry, geocoder)
    now = utcnow()
    lon, lat = _center(geometry)
    place = Place(
        account_id=account_id, place_id=place_id, place_handle=handle, geometry=geometry,
        radius=(body.radius or DEFAULT_PLACE_RADIUS_M) if geometry["type"] == "Point" else None,
        center_lon=lon, center_lat=lat, region=region, timings=[], closed_on=[], metadata_={},
        parkings=[], checkins=[], created_by=_actor("api", now), updated_by=_actor("api", now),
        created_at=now, updated_at=now)
    for name, attribute in FIELDS.items():
        if name not in ("geometry", "radius"):
            value = _wire_value(body, name)
            if value is not None:
                setattr(place, attribute, value)
    session.add(place)
    _audit(session, place, "INSERT", {
        name: {"old": None, "new": getattr(place, attribute)}
        for name, attribute in FIELDS.items() if getattr(place, attribute) not in (None, [], {})
    }, place.created_by or {}, now)
    session.flush()
    return place


def update_place(session: Session, place: Place, body: PlaceUpdate, *,
                 geocoder: Geocoder | None, geometry_from_address: bool) -> list[str]:
    """Apply a PATCH (``null`` ignored, ``[]`` clears); the names of the fields that changed."""
    now = utcnow()
    changes: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in FIELDS:
        value = _wire_value(body, name)
        if value is not None:
            new[name] = value
    if geometry_from_address:
        address = body.address or place.address
        if not address:
            raise invalid_field("query", "update_geometry_using_address",
                                "The place has no address to geocode.")
        new["geometry"], region = _geocode(session, place.account_id, body, address, geocoder)
        if region:
            place.region = region
    if isinstance(new.get("geometry"), dict) and new["geometry"]["type"] == "Polygon":
        new["radius"] = None
    elif "geometry" in new and place.radius is None and "radius" not in new:
        new["radius"] = DEFAULT_PLACE_RADIUS_M
    elif "radius" in new and place.geometry.get("type") == "Polygon" and "geometry" not in new:
        raise invalid_field("json", "radius", "radius applies to Point geometries only.")
    for name, value in new.items():
        attribute = FIELDS[name]
        old = getattr(place, attribute)
        if old != value:
            changes[name] = {"old": old, "new": value}
            setattr(place, attribute, value)
    if "geometry" in changes:
        place.center_lon, place.center_lat = _center(place.geometry)
        if not geometry_from_address:
            place.region = _region(session, place.account_id, place.geometry, geocoder)
    if changes:
        place.updated_at = now
        place.updated_by = _actor("api", now)
        _audit(session, place, "UPDATE", changes, place.updated_by, now)
    session.flush()
    return sorted(changes)


def delete_place(session: Session, place: Place) -> None:
    """Delete a place; orders keep the destination they copied from it."""
    now = utcnow()
    _audit(session, place, "DELETE", {"place_handle": {"old": place.place_handle, "new": None}},
           _actor("api", now), now)
    session.delete(place)
    session.flush()


PlaceListing = tuple[list[Place], str | None, dict[str, int], dict[str, Any] | None]


def list_places(session: Session, account_id: str, filters: PlaceFilters, *,
                secret: SigningKeys) -> PlaceListing:
    """One page of places, the next page's token, their order counts and the aggregate."""
    filters.check_around()
    fingerprint = filters.model_dump(mode="json", exclude_none=True,
                                     exclude={"limit", "pagination_token"})
    query = repository.filtered(session, account_id, filters)
    descending = filters.sort_direction == "desc"
    aggregate = None
    if filters.aggregate:
        kinds = repository.kinds(session, query)
        aggregate = {"count": sum(kinds.values()), "geofence_types": kinds}
    rows = [p for p in session.scalars(query)]
    counts = repository.order_counts(session, account_id, [p.place_handle for p in rows])

    def key(place: Place) -> list[Any]:
        if filters.sort_by is SortBy.ORDER_COUNT:
            return [counts.get(place.place_handle, 0), place.place_id]
        stamp = place.updated_at if filters.sort_by is SortBy.LAST_UPDATED else place.created_at
        return [stamp.isoformat(), place.place_id]

    # The page is cut in Python from the sorted matches (an account's places number in the
    # thousands, not millions), resuming strictly after the token's key.
    rows.sort(key=key, reverse=descending)
    if filters.pagination_token:
        after = decode_token(secret, filters.pagination_token, fingerprint)
        rows = [p for p in rows if (key(p) < after if descending else key(p) > after)]
    page = rows[: filters.limit]
    token = None
    if len(rows) > filters.limit and page:
        token = encode_token(secret, key(page[-1]), fingerprint)
    return page, token, counts, aggregate


def history_page(session: Session, account_id: str, handle: str, query: HistoryQuery, *,
                 secret: SigningKeys) -> tuple[str, list[PlaceHistory], str | None]:
    """The place's id, one page of its audited changes (newest first) and the next token."""
    if "\x00" in handle:
        raise not_found("Place", handle.replace("\x00", ""))
    entries = repository.history(session, account_id, handle)
    place = repository.by_handle(session, account_id, handle)
    if place is None and not entries:
        raise not_found("Place", handle)
    place_id = place.place_id if place else entries[0].place_id
    if query.field_name:
        entries = [e for e in entries if query.field_name in (e.changes or {})]
    fingerprint = {"field_name": query.field_name, "place_handle": handle}
    if query.pagination_token:
        after = decode_token(secret, query.pagination_token, fingerprint)
        entries = [e for e in entries if [e.changed_at.isoformat(), e.audit_id] < after]
    page = entries[: query.limit]
    token = None
    if len(entries) > query.limit:
        token = encode_token(secret, [page[-1].changed_at.isoformat(), page[-1].audit_id],
                             fingerprint)
    return place_id, page, token


def place_wire(place: Place, order_count: int = 0) -> dict[str, Any]:
    """The ``PlaceResponse`` of a place."""
    return {
        "place_id": place.place_id, "place_handle": place.place_handle, "name": place.name,
        "geometry": place.geometry, "radius": place.radius, "address": place.address,
        "address_components": place.address_components, "region": place.region,
        "place_type": place.place_type, "timings": place.timings or [],
        "closed_on": place.closed_on or [], "expected_service_time": place.expected_service_time,
        "metadata": place.metadata_ or {}, "parkings": place.parkings or [],
        "checkins": place.checkins or [], "visit_detection_config": place.visit_detection_config,
        "order_count": order_count, "created_at": place.created_at,
        "last_updated": place.updated_at, "created_by": place.created_by,
        "updated_by": place.updated_by, "geofence_id": place.place_id,
    }


def order_count(session: Session, place: Place) -> int:
    """How many orders name this place as their destination."""
    return repository.order_counts(session, place.account_id, [place.place_handle]).get(
        place.place_handle, 0)

