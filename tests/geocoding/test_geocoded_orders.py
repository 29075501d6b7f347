"""Address-only orders and regions against a real Nominatim with the Helsinki extract."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from routekeeper.db.engine import Database
from routekeeper.models.geocode_cache import GeocodeCache
from routekeeper.models.job import Job
from tests.conftest import Tenant
from tests.geocoding.helpers import (
    ADDRESSES,
    UNKNOWN,
    address_order,
    distance_m,
    listed,
    post_orders,
)
from tests.orders.helpers import handle
from tests.shapes import messages_at


def test_address_only_orders_get_the_right_house_and_a_region(geo: Tenant) -> None:
    """Each address-only order is stored at its house, with the address as sent and a region."""
    orders = [address_order(a, order_handle=handle("addr")) for a in ADDRESSES]
    response = post_orders(geo.client, *orders)
    assert response.status_code == 201, response.text
    created = response.json()["orders"]
    for sent, order in zip(orders, created, strict=True):
        address = sent["destination"]["address"]
        destination = order["destination"]
        assert destination["address"] == address
        assert destination["geometry"]["type"] == "Point"
        assert destination["radius"] == 30  # the contract's default for an address
        found = tuple(destination["geometry"]["coordinates"])
        assert distance_m(found, ADDRESSES[address]) < 60, (address, found)
        assert order["region"] == {"city": "Helsinki", "state": None, "country": "Finland"}


def test_region_filter_finds_helsinki_orders(geo: Tenant) -> None:
    """region_filter {"city": "Helsinki"} lists the geocoded orders; another city none."""
    mine = [handle("rf") for _ in range(3)]
    addresses = list(ADDRESSES)[:3]
    response = post_orders(geo.client, *[
        address_order(a, order_handle=h) for a, h in zip(addresses, mine, strict=True)])
    assert response.status_code == 201, response.text
    helsinki = listed(geo.client, region_filter=json.dumps({"city": "Helsinki"}))
    assert sorted(helsinki) == sorted(mine)
    both = listed(geo.client, region_filter=json.dumps({"city": "Helsinki",
                                                         "country": "Finland"}))
    assert sorted(both) == sorted(mine)
    assert listed(geo.client, region_filter=json.dumps({"city": "Espoo"})) == []


def test_unknown_address_is_422_and_stores_nothing(geo: Tenant, db: Database) -> None:
    """One address that resolves to nothing refuses the whole batch, naming order and address."""
    bad = handle("bad")
    good = handle("good")
    response = post_orders(geo.client, address_order("Keskuskatu 7, Helsinki", order_handle=good),
                           address_order(UNKNOWN, order_handle=bad))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "Validation error"
    [message] = messages_at(body["detail"], "json", "orders.1.destination.address")
    assert bad in message and UNKNOWN in message
    assert listed(geo.client) == []
    with db.read() as session:
        cached = session.scalar(select(func.count()).select_from(GeocodeCache).where(
            GeocodeCache.account_id == geo.account_id))
    assert cached == 0  # a refused batch leaves no trace, not even in the cache


def test_geometry_orders_get_their_region_by_reverse_geocoding(geo: Tenant) -> None:
    """An order sent with coordinates in Helsinki gets its region from a reverse lookup."""
    lon, lat = ADDRESSES["Annankatu 14, Helsinki"]
    order = address_order("ignored", order_handle=handle("geo"))
    order["destination"] = {"geometry": {"type": "Point", "coordinates": [lon, lat]}}
    response = post_orders(geo.client, order)
    assert response.status_code == 201, response.text
    [created] = response.json()["orders"]
    assert created["region"]["city"] == "Helsinki"
    assert created["region"]["country"] == "Finland"


def test_the_cache_is_per_account_and_spares_the_geocoder(
    geo: Tenant, geo_app, db: Database  # type: ignore[no-untyped-def]
) -> None:
    """A second batch of the same addresses is answered from the account's cache only."""
    addresses = list(ADDRESSES)[:4]
    first = post_orders(geo.client, *[address_order(a, order_handle=handle("c1"))
                                      for a in addresses])
    assert first.status_code == 201, first.text
    with db.read() as session:
        kinds = dict(session.execute(
            select(GeocodeCache.kind, func.count()).where(
                GeocodeCache.account_id == geo.account_id).group_by(GeocodeCache.kind)).all())
    assert kinds.get("search") == 4
    client = geo_app.state.geocoder.client
    calls: list[str] = []
    original = client.search

    def counting(query):  # type: ignore[no-untyped-def]
        calls.append(query.text)
        return original(query)

    client.search = counting
    try:
        again = post_orders(geo.client, *[
            address_order(a.upper().replace(",", " ,"), order_handle=handle("c2"))
            for a in addresses])
        assert again.status_code == 201, again.text
        assert calls == []  # same addresses (up to case and spacing): no request
        other = Tenant(geo_app, db)
        third = post_orders(other.client, address_order(addresses[0], order_handle=handle("c3")))
        assert third.status_code == 201, third.text
        assert len(calls) == 1  # another account has its own cache
    finally:
        del client.search


def test_a_slow_geocoder_leaves_regions_to_the_background_job(
    settings, nominatim_url: str, db: Database  # type: ignore[no-untyped-def]
) -> None:
    """With no time to wait, regions come from the orders.regions job a moment later."""
    from routekeeper.app import create_app
    from routekeeper.worker import build_runner
    from tests.geocoding.conftest import geocoding_settings

    patient = geocoding_settings(settings, nominatim_url, region_wait_s=0.0)
    app = create_app(patient, run_worker=False)
    tenant = Tenant(app, db)
    lon, lat = ADDRESSES["Mikonkatu 19, Helsinki"]
    order = address_order("x", order_handle=handle("slow"))
    order["destination"] = {"geometry": {"type": "Point", "coordinates": [lon, lat]}}
    response = post_orders(tenant.client, order)
    assert response.status_code == 201, response.text
    assert response.json()["orders"][0]["region"] is None
    with db.read() as session:
        queued = session.scalar(select(func.count()).select_from(Job).where(
            Job.account_id == tenant.account_id, Job.task == "orders.regions"))
    assert queued == 1
    build_runner(db, patient).run_until_idle()
    [stored] = tenant.client.get("/orders/").json()["orders"]
    assert stored["region"]["city"] == "Helsinki"
