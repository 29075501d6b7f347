"""The optional dedicated OsmAnd port: a real HTTP server on its own port while the app runs."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant

from .api_helpers import make_worker, register, stored_positions


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_osmand_answers_at_the_root_of_its_own_port(
    api: TestClient, settings: Settings, db: Database, tenant: Tenant
) -> None:
    """With ``tracking.osmand_port`` set, Traccar Client's plain ``http://host:port/?id=...``
    stores positions, and the port closes with the app."""
    make_worker(api, "w1")
    key = register(api, "phone", "w1")
    port = free_port()
    tracking = settings.tracking.model_copy(update={"osmand_port": port})
    app = create_app(settings.model_copy(update={"tracking": tracking}), run_worker=False)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    params = {"id": key, "lat": "52.5", "lon": "13.4", "timestamp": str(int(at.timestamp())),
              "speed": "0"}
    with TestClient(app):
        root = httpx.post(f"http://127.0.0.1:{port}/", params=params, timeout=10)
        assert root.status_code == 200, root.text
        assert root.json()["accepted"] == 1
        refused = httpx.get(f"http://127.0.0.1:{port}/", params={**params, "id": "nope"},
                            timeout=10)
        assert refused.status_code == 401
    assert stored_positions(db, tenant.account_id, "phone") == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", params=params, timeout=2)


def test_a_taken_port_fails_startup(settings: Settings) -> None:
    """An OsmAnd port that cannot be opened stops the app from starting, loudly."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        tracking = settings.tracking.model_copy(update={"osmand_port": port})
        app = create_app(settings.model_copy(update={"tracking": tracking}), run_worker=False)
        with pytest.raises(RuntimeError, match="could not be opened"), TestClient(app):
            pass
