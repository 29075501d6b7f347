"""Geocoding when there is no geocoder, or one that cannot be reached (no Nominatim needed)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.geocoding.local import free_port, nominatim_dsn
from routekeeper.geocoding.regions import region_from_address
from routekeeper.models.job import Job
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.geocoding.conftest import geocoding_settings
from tests.geocoding.helpers import address_order, listed, post_orders
from tests.orders.helpers import assert_validation, handle


def test_export_region_filter_without_a_geocoder_is_422(api) -> None:  # type: ignore[no-untyped-def]
    """An export filtered by region is refused, with the reason, when no geocoder is set."""
    response = api.post("/orders/export",
                        json={"region_filter": json.dumps({"city": "Helsinki"})})
    [message] = assert_validation(response, "json", "region_filter")
    assert "no geocoder is configured" in message


def test_region_filter_is_validated_before_anything_else(api) -> None:  # type: ignore[no-untyped-def]
    """A region_filter with other keys than city/state/country is a 422 on its own terms."""
    [message] = assert_validation(
        api.get("/orders/", params={"region_filter": json.dumps({"zip": "00100"})}),
        "query", "region_filter")
    assert "city, state or country" in message


@pytest.fixture
def unreachable(settings: Settings, db: Database) -> Tenant:
    """An account on an app whose geocoder URL has nothing listening."""
    url = f"http://127.0.0.1:{free_port()}"
    return Tenant(create_app(geocoding_settings(settings, url, retry_after_s=42,
                                                region_wait_s=0.5), run_worker=False), db)


def test_unreachable_geocoder_is_503_and_stores_nothing(unreachable: Tenant) -> None:
    """Address-only orders with the geocoder down: 503 with Retry-After, no order stored."""
    response = post_orders(unreachable.client,
                           address_order("Keskuskatu 7, Helsinki", order_handle=handle("d")))
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "42"
    body = response.json()
    assert body["message"] == "Geocoder unavailable"
    assert "Nothing was stored" in body["detail"]["description"]
    assert listed(unreachable.client) == []


def test_unreachable_geocoder_defers_regions_of_point_orders(
    unreachable: Tenant, db: Database
) -> None:
    """Orders with coordinates are created anyway; their region is left to a job."""
    order = address_order("x", order_handle=handle("p"))
    order["destination"] = {"geometry": {"type": "Point", "coordinates": [24.94, 60.17]}}
    response = post_orders(unreachable.client, order)
    assert response.status_code == 201, response.text
    assert response.json()["orders"][0]["region"] is None
    with db.read() as session:
        payloads = session.scalars(select(Job.payload).where(
            Job.account_id == unreachable.account_id, Job.task == "orders.regions")).all()
        assert session.scalar(select(func.count()).select_from(Job).where(
            Job.account_id == unreachable.account_id)) == 1
    assert [len(p["order_ids"]) for p in payloads] == [1]


def test_region_from_nominatim_address() -> None:
    """City falls back through town and village, state through region; no country, no region."""
    assert region_from_address({"city": "Helsinki", "country": "Finland"}) == {
        "city": "Helsinki", "state": None, "country": "Finland"}
    assert region_from_address({"village": "Nuuksio", "region": "Uusimaa",
                                "country": "Finland"}) == {
        "city": "Nuuksio", "state": "Uusimaa", "country": "Finland"}
    assert region_from_address({"city": "Nowhere"}) is None
    assert region_from_address(None) is None


def test_nominatim_dsn_from_a_postgresql_url() -> None:
    """The builder turns a libpq URL into Nominatim's pgsql: DSN for another database."""
    assert nominatim_dsn("postgresql://postgres@127.0.0.1:5432/postgres", "geo") == (
        "pgsql:dbname=geo;host=127.0.0.1;port=5432;user=postgres")
    assert nominatim_dsn("postgresql+psycopg://u:p%40ss@db/x", "geo") == (
        "pgsql:dbname=geo;host=db;user=u;password=p@ss")


def test_geocoder_check_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    """`routekeeper geocoder check` exits 3 and names the problem when it cannot build."""
    from routekeeper.cli.main import main

    status = main(["geocoder", "check", "--pg-url",
                   f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"])
    assert status == 3
    out = capsys.readouterr().out
    assert "geocoder cannot be built here" in out and "cannot be reached" in out


def test_geocoder_build_refuses_a_missing_extract(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Building from an extract that does not exist fails with a one-line reason."""
    from routekeeper.cli.main import main

    status = main(["geocoder", "build", "--no-serve", "--home", str(tmp_path),
                   "--pbf", str(tmp_path / "missing.osm.pbf")])
    assert status == 3
    assert "missing.osm.pbf does not exist" in capsys.readouterr().err
