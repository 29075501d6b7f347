"""Places located by their address through the real geocoder."""

from __future__ import annotations

from tests.conftest import Tenant
from tests.geocoding.helpers import ADDRESSES, UNKNOWN, distance_m
from tests.places.helpers import place_body


def _address_only(address: str, **fields: object) -> dict[str, object]:
    body = place_body(address=address, **fields)
    del body["geometry"]
    return body


def test_a_place_from_its_address_and_a_new_address(geo: Tenant) -> None:
    """Without geometry the address is geocoded; update_geometry_using_address re-geocodes."""
    first, second = "Keskuskatu 7, Helsinki", "Siltasaarenkatu 3, Helsinki"
    response = geo.client.post("/places/v1/", json=_address_only(first))
    assert response.status_code == 200, response.text
    place = response.json()
    assert distance_m(tuple(place["geometry"]["coordinates"]), ADDRESSES[first]) < 60
    assert place["region"]["city"] == "Helsinki"
    handle = place["place_handle"]
    kept = geo.client.patch(f"/places/v1/{handle}", json={"address": second}).json()
    assert kept["geometry"] == place["geometry"]  # only the text changed
    moved = geo.client.patch(f"/places/v1/{handle}",
                             params={"update_geometry_using_address": "true"}, json={})
    assert moved.status_code == 200, moved.text
    assert distance_m(tuple(moved.json()["geometry"]["coordinates"]), ADDRESSES[second]) < 60


def test_a_place_at_an_unknown_address_is_422(geo: Tenant) -> None:
    """An address the geocoder cannot find is a 422 naming it; no place is stored."""
    response = geo.client.post("/places/v1/", json=_address_only(UNKNOWN))
    assert response.status_code == 422, response.text
    assert UNKNOWN in response.json()["detail"]["json"]["address"][0]
    assert geo.client.get("/places/v1/").json()["places"] == []


def test_orders_at_an_address_only_place_in_a_track(geo: Tenant) -> None:
    """/orders/track takes a place made from an address, and an address-only destination."""
    geo.client.post("/workers/", json={"worker_handle": "w-geo"})
    place = geo.client.post("/places/v1/", json=_address_only("Annankatu 14, Helsinki")).json()
    response = geo.client.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "w-geo",
        "orders": [{"order_handle": "at-place",
                    "destination": {"place_handle": place["place_handle"]}},
                   {"order_handle": "at-address",
                    "destination": {"address": "Mikonkatu 19, Helsinki"}}]})
    assert response.status_code == 201, response.text
    by_handle = {o["order_handle"]: o for o in response.json()["orders"]}
    assert by_handle["at-place"]["destination"]["geometry"] == place["geometry"]
    assert by_handle["at-place"]["region"]["city"] == "Helsinki"
    found = tuple(by_handle["at-address"]["destination"]["geometry"]["coordinates"])
    assert distance_m(found, ADDRESSES["Mikonkatu 19, Helsinki"]) < 60
