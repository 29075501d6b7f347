"""Regions in route lists and exports, and a geocoder that stops mid-run (real Nominatim)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.geocoding.local import LocalNominatim, free_port, stop, wait_ready
from routekeeper.models.job import Job
from routekeeper.models.order import Order
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.exports.conftest import download, parse_csv, start_export, status
from tests.geocoding.conftest import geocoding_settings
from tests.geocoding.helpers import ADDRESSES, address_order, listed, post_orders
from tests.orders.helpers import create_worker, handle


def test_routes_and_exports_filter_and_show_regions(
    geo: Tenant, db: Database, settings: Settings, nominatim_url: str
) -> None:
    """region_filter selects routes by their orders' region; the export's region columns fill."""
    worker = create_worker(geo.client)
    addresses = list(ADDRESSES)[:2]
    response = post_orders(geo.client, *[address_order(a, order_handle=handle("rt"))
                                         for a in addresses], worker_handle=worker)
    assert response.status_code == 201, response.text
    route = response.json()["route_handle"]
    found = geo.client.get("/orders/routes/",
                           params={"region_filter": json.dumps({"city": "Helsinki"})})
    assert found.status_code == 200, found.text
    assert [r["route_handle"] for r in found.json()["routes"]] == [route]
    none = geo.client.get("/orders/routes/",
                          params={"region_filter": json.dumps({"country": "Sweden"})})
    assert none.json()["routes"] == []

    job_id = start_export(geo.client, {"region_filter": json.dumps({"city": "Helsinki"})})
    build_runner(db, geocoding_settings(settings, nominatim_url)).run_until_idle()
    rows = parse_csv(download(geo.client, status(geo.client, job_id)["presigned_url"]))
    assert len(rows) == 2
    for row in rows:
        assert (row["region_city"], row["region_country"]) == ("Helsinki", "Finland")


def test_a_geocoder_stopped_mid_run(
    local_nominatim: LocalNominatim, settings: Settings, db: Database
) -> None:
    """Once the geocoder stops: address-only batches are 503 with Retry-After and store
    nothing, cached addresses still work, and regions are filled when it is back."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = local_nominatim.start(port=port, quiet=True)
    try:
        wait_ready(url, process=process)
        configured = geocoding_settings(settings, url, retry_after_s=17)
        tenant = Tenant(create_app(configured, run_worker=False), db)
        known = "Keskuskatu 7, Helsinki"
        first = post_orders(tenant.client, address_order(known, order_handle=handle("up")))
        assert first.status_code == 201, first.text
    finally:
        stop(process)

    down = post_orders(tenant.client,
                       address_order(known, order_handle=handle("k")),
                       address_order("Annankatu 14, Helsinki", order_handle=handle("new")))
    assert down.status_code == 503, down.text
    assert down.headers["Retry-After"] == "17"
    assert "did not answer" in down.json()["detail"]["description"]
    assert len(listed(tenant.client)) == 1

    cached = post_orders(tenant.client, address_order(known, order_handle=handle("cached")))
    assert cached.status_code == 201, cached.text  # answered from the account's cache

    lon, lat = ADDRESSES["Mikonkatu 19, Helsinki"]
    point = address_order("x", order_handle=handle("pt"))
    point["destination"] = {"geometry": {"type": "Point", "coordinates": [lon, lat]}}
    accepted = post_orders(tenant.client, point)
    assert accepted.status_code == 201, accepted.text  # coordinates need no geocoder
    assert accepted.json()["orders"][0]["region"] is None
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(
            Job.account_id == tenant.account_id, Job.task == "orders.regions")) == 1

    process = local_nominatim.start(port=port, quiet=True)
    try:
        wait_ready(url, process=process)
        build_runner(db, configured).run_until_idle()
    finally:
        stop(process)
    with db.read() as session:
        regions = session.scalars(select(Order.region).where(
            Order.account_id == tenant.account_id)).all()
    assert all(r and r["city"] == "Helsinki" for r in regions), regions
