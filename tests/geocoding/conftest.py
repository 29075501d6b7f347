"""Fixtures of the geocoding tests: a real Nominatim over HTTP, and an app that uses it.

The geocoder is, in order: the one at ``ROUTEKEEPER_TEST_GEOCODER_URL``; or the one built in
this checkout's ``var/nominatim`` (``make geocoder-build``), served for this test session on
a free port. Without either the tests that need it are skipped with the reason, unless
``ROUTEKEEPER_TEST_REQUIRE_GEOCODER=1`` (CI), where a missing geocoder fails them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from routekeeper.app import create_app
from routekeeper.geocoding.local import LocalNominatim, free_port, stop, wait_ready
from routekeeper.settings import GeocodingSettings, Settings
from tests.conftest import Tenant

URL_ENV = "ROUTEKEEPER_TEST_GEOCODER_URL"
REQUIRE_ENV = "ROUTEKEEPER_TEST_REQUIRE_GEOCODER"
HOME = Path(__file__).resolve().parents[2] / "var" / "nominatim"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"the geocoder is required here ({REQUIRE_ENV}=1): {reason}")
    pytest.skip(f"no Nominatim to test against: {reason}")


@pytest.fixture(scope="session")
def local_nominatim() -> LocalNominatim:
    """This checkout's built Nominatim (skips when none is built)."""
    local = LocalNominatim(HOME)
    if local.record() is None:
        _unavailable(f"none built in {HOME} (run `make geocoder-build`; it needs osm2pgsql, "
                     "PostGIS and python3-icu, see `routekeeper geocoder check`)")
    return local


@pytest.fixture(scope="session")
def nominatim_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a running Nominatim with the Helsinki extract."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given.rstrip("/")
        return
    local: LocalNominatim = request.getfixturevalue("local_nominatim")
    port = free_port()
    process = local.start(port=port, quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process=process)
    except Exception as exc:  # any start-up failure is a reason to report
        stop(process)
        _unavailable(f"nominatim serve did not start: {exc}")
    yield url
    stop(process)


def geocoding_settings(settings: Settings, url: str, **changes: object) -> Settings:
    """The session's settings with a geocoder at ``url``."""
    return settings.with_overrides(
        geocoding=GeocodingSettings(url=url, timeout_s=5.0, **changes))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def geo_app(settings: Settings, nominatim_url: str):  # type: ignore[no-untyped-def]
    """The API app with the real geocoder configured."""
    return create_app(geocoding_settings(settings, nominatim_url), run_worker=False)


@pytest.fixture
def geo(geo_app, db) -> Tenant:  # type: ignore[no-untyped-def]
    """A fresh account on the app with a geocoder."""
    return Tenant(geo_app, db)
