"""Contract section 5.2 (the periodic ``eta`` event) and 5.1 (one webhook URL per account,
set without code as in HyperTrack's dashboard: ``routekeeper webhooks add``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from routekeeper.cli.main import main
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms
from tests.factories import create_orders_body, order_body
from tests.tracking.api_helpers import TrackClock, make_worker, outbox, register, start_drive
from tests.tracking.conftest import track_clock, travel  # noqa: F401 - fixtures used below
from tests.tracking.simulate import FakeTravel
from tests.tracking.test_api_drive import replay
from tests.webhooks.helpers import drain, fast_settings, make_runner
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording HTTP receiver on loopback: the URL a HyperTrack user would configure."""
    server = Receiver()
    yield server
    server.close()


def test_periodic_eta_envelopes(
    api: TestClient, anon: TestClient, db: Database, tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel,  # noqa: F811 - the imported fixtures
) -> None:
    """While a worker drives a tracked route, ``eta`` events are sent for the order on the
    way, each a conforming envelope with remaining_duration, remaining_distance (integers)
    and the driver's location."""
    make_worker(api, "eta-contract")
    key = register(api, "phone", "eta-contract")
    wire = start_drive(api, db, tenant.account_id, "eta-contract", 7, interval_s=5.0,
                       prefix="eta-c")
    replay(wire, "json", anon, key, track_clock, 7)
    etas = [e for handle in wire.handles.values()
            for e in outbox(db, tenant.account_id, order_handle=handle, value="eta")]
    assert etas
    for event in etas:
        conforms("WebhookEvent", event)
        conforms("EtaWebhookData", event["data"])
        assert event["data"]["driver_location"]["type"] == "Point"
        assert event["device_id"] == "phone"


def test_webhook_url_set_on_the_command_line(
    api: TestClient, tenant: Tenant, db: Database, settings: Settings, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """``routekeeper webhooks add --account ID URL`` sets the account's URL; the account's
    order events then arrive there as JSON arrays of conforming envelopes."""
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", settings.secret_key or "")
    monkeypatch.setenv("ROUTEKEEPER_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    assert main(["webhooks", "add", "--account", tenant.account_id, receiver.url,
                 "--json"]) == 0
    endpoint_id = json.loads(capsys.readouterr().out)["endpoint_id"]
    order = order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    answers("cancel_order", api.post(f"/orders/{order['order_handle']}/cancel"))
    drain(make_runner(db, fast_settings(settings)), lambda: bool(receiver.requests))
    events = [e for request in receiver.requests for e in request.events()]
    assert [e["data"]["value"] for e in events] == ["cancelled"]
    conforms("WebhookEvent", events[0])
    # The receiver closes with the test: later tests' job runners must not retry to it.
    assert api.delete(f"/webhooks/endpoints/{endpoint_id}").status_code == 200
