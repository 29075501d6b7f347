"""The Places API under /places/v1/ (contract Appendix C): create, list, get, update,
delete and history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.orders.helpers import assert_validation
from tests.places.helpers import POINT, SQUARE, create_place, place_body


def test_create_and_get_return_every_field(api: TestClient) -> None:
    """A created place comes back whole, with server fields, on create and on get."""
    place = create_place(api)
    for key in ("place_id", "place_handle", "name", "geometry", "radius", "address",
                "place_type", "timings", "closed_on", "expected_service_time", "metadata",
                "order_count", "created_at", "last_updated", "created_by", "updated_by"):
        assert key in place, key
    assert place["geometry"] == POINT and place["radius"] == 40
    assert place["timings"] == [{"day_of_week": "monday", "start_time": "08:00",
                                 "end_time": "16:00"}]
    assert place["closed_on"] == ["2031-12-25"] and place["order_count"] == 0
    got = api.get(f"/places/v1/{place['place_handle']}")
    assert got.status_code == 200 and got.json() == place


def test_handles_are_unique_and_generated_when_absent(api: TestClient) -> None:
    """A second place with the same handle is a 409; without a handle the id is the handle."""
    place = create_place(api)
    again = api.post("/places/v1/", json=place_body(place_handle=place["place_handle"]))
    assert again.status_code == 409 and again.json()["code"] == "duplicate_resource"
    body = place_body()
    del body["place_handle"]
    anonymous = api.post("/places/v1/", json=body).json()
    assert anonymous["place_handle"] == anonymous["place_id"]


@pytest.mark.parametrize(("body", "field"), [
    ({"geometry": SQUARE, "radius": 10}, "_schema"),  # a rule across fields
    ({"timings": [{"day_of_week": "moonday", "start_time": "08:00", "end_time": "09:00"}]},
     "timings"),
    ({"timings": [{"day_of_week": "monday", "start_time": "10:00", "end_time": "09:00"}]},
     "timings"),
    ({"closed_on": ["25.12.2031"]}, "closed_on"),
    ({"place_type": "castle"}, "place_type"),
])
def test_bad_places_are_422(api: TestClient, body: dict[str, Any], field: str) -> None:
    """Malformed fields are refused with a 422 naming them."""
    response = api.post("/places/v1/", json=place_body(**body))
    assert response.status_code == 422, response.text
    assert any(field in key for key in response.json()["detail"]["json"]), response.json()


def test_address_only_place_without_a_geocoder_is_422(api: TestClient) -> None:
    """A place with only an address needs a geocoder; without one the 422 says so."""
    body = place_body()
    del body["geometry"]
    [message] = assert_validation(api.post("/places/v1/", json=body), "json", "address")
    assert "no geocoder is configured" in message


def test_list_filters_and_keyset_pagination(api: TestClient) -> None:
    """Every place is listed once across pages; each filter selects what it names."""
    far = {"type": "Point", "coordinates": [25.10, 60.25]}
    made = [create_place(api, name=f"Shop {i}", metadata={"n": i}) for i in range(5)]
    made.append(create_place(api, name="Harbour Polygon", geometry=SQUARE, radius=None))
    made.append(create_place(api, name="Far away", geometry=far))
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if token:
            params["pagination_token"] = token
        page = api.get("/places/v1/", params=params).json()
        seen += [p["place_handle"] for p in page["places"]]
        token = page["pagination_token"]
        if not token:
            break
    assert sorted(seen) == sorted(p["place_handle"] for p in made) and len(seen) == 7
    assert seen[0] == made[-1]["place_handle"]  # newest first by default

    def names(**params: Any) -> list[str]:
        response = api.get("/places/v1/", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        return sorted(p["name"] for p in response.json()["places"])

    assert names(name="shop 3") == ["Shop 3"]
    assert names(geofence_type="Polygon") == ["Harbour Polygon"]
    assert names(metadata=json.dumps({"n": 2})) == ["Shop 2"]
    assert names(place_handles=f"{made[0]['place_handle']},{made[1]['place_handle']}") == [
        "Shop 0", "Shop 1"]
    assert "Far away" not in names(lat=60.1695, lon=24.9431, radius=2000)
    assert names(lat=60.25, lon=25.10, radius=100) == ["Far away"]
    assert names(search_term="harbour") == ["Harbour Polygon"]
    counted = api.get("/places/v1/", params={"aggregate": "true"}).json()["aggregate"]
    assert counted == {"count": 7, "geofence_types": {"Point": 6, "Polygon": 1}}
    assert_validation(api.get("/places/v1/", params={"lat": 60.1}), "query", "lon")
    assert_validation(api.get("/places/v1/", params={"sort_by": "skew"}), "query", "sort_by")
    assert_validation(api.get("/places/v1/", params={"limit": 101}), "query", "limit")


def test_update_ignores_nulls_clears_with_empty_lists_and_audits(api: TestClient) -> None:
    """PATCH: null leaves a field, [] clears an array, and the history shows old and new."""
    place = create_place(api)
    handle = place["place_handle"]
    response = api.patch(f"/places/v1/{handle}",
                         json={"name": "Renamed", "address": None, "timings": [],
                               "metadata": {"zone": "south"}})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Renamed" and updated["address"] == place["address"]
    assert updated["timings"] == [] and updated["metadata"] == {"zone": "south"}
    assert updated["last_updated"] >= place["last_updated"]
    history = api.get(f"/places/v1/{handle}/history").json()
    assert history["place_id"] == place["place_id"]
    assert [h["operation"] for h in history["history"]] == ["UPDATE", "INSERT"]
    changes = history["history"][0]["changes"]
    assert changes["name"] == {"old": "Central Depot", "new": "Renamed"}
    assert set(changes) == {"name", "timings", "metadata"}
    only = api.get(f"/places/v1/{handle}/history", params={"field_name": "name"}).json()
    assert len(only["history"]) == 2
    first = api.get(f"/places/v1/{handle}/history", params={"limit": 1}).json()
    assert len(first["history"]) == 1 and first["pagination_token"]
    rest = api.get(f"/places/v1/{handle}/history",
                   params={"limit": 1, "pagination_token": first["pagination_token"]}).json()
    assert [h["operation"] for h in rest["history"]] == ["INSERT"]


def test_delete_then_404_with_history_kept(api: TestClient) -> None:
    """A deleted place is gone (404) but its history, ending in DELETE, remains."""
    handle = create_place(api)["place_handle"]
    assert api.delete(f"/places/v1/{handle}").json() == {}
    assert api.get(f"/places/v1/{handle}").status_code == 404
    assert api.delete(f"/places/v1/{handle}").status_code == 404
    assert api.patch(f"/places/v1/{handle}", json={"name": "x"}).status_code == 404
    history = api.get(f"/places/v1/{handle}/history").json()["history"]
    assert [h["operation"] for h in history] == ["DELETE", "INSERT"]
    assert api.get("/places/v1/nothing-here/history").status_code == 404


def test_places_belong_to_one_account(api: TestClient, other_tenant: Any) -> None:
    """Another account neither sees nor changes a place."""
    handle = create_place(api)["place_handle"]
    other = other_tenant.client
    assert other.get(f"/places/v1/{handle}").status_code == 404
    assert other.get("/places/v1/").json()["places"] == []
    assert other.delete(f"/places/v1/{handle}").status_code == 404
    assert api.get("/places/v1/", auth=None).status_code == 401
