"""Fixtures of the operations tests: an app with metrics on, and the tracking fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.settings import MetricsSettings, Settings
from tests.tracking.conftest import track_clock, travel

__all__ = ["metrics_client", "track_clock", "travel"]

METRICS_TOKEN = "metrics-test-token"


@pytest.fixture(scope="module")
def metrics_client(settings: Settings) -> Iterator[TestClient]:
    """A client of an app whose /metrics answers the bearer ``METRICS_TOKEN``."""
    app = create_app(settings.model_copy(update={"metrics": MetricsSettings(token=METRICS_TOKEN)}),
                     run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
        yield client
