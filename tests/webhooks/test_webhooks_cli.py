"""``routekeeper webhooks add --account ID URL``: a webhook URL without code, as HyperTrack's
dashboard gives one (issue 15 item 5)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from routekeeper.cli.main import main
from routekeeper.core.jobs import JobRunner
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body
from tests.webhooks.receiver import Receiver


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the command line at the test database."""
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", settings.secret_key)


def test_added_url_receives_the_accounts_events(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    api: TestClient, tenant: Tenant, receiver: Receiver, runner: JobRunner,
) -> None:
    """The command prints the endpoint and its secret; the account's next order event is
    delivered there."""
    monkeypatch.setenv("ROUTEKEEPER_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    assert main(["webhooks", "add", "--account", tenant.account_id, receiver.url,
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["url"] == receiver.url and printed["secret"].startswith("whsec_")
    listed = api.get("/webhooks/endpoints").json()["endpoints"]
    assert [e["id"] for e in listed] == [printed["endpoint_id"]]
    order = order_body()
    assert api.post("/orders/", json=create_orders_body(order)).status_code == 201
    api.post(f"/orders/{order['order_handle']}/cancel")
    runner.run_until_idle()
    receiver.wait_for(1)
    events = [e for r in receiver.requests for e in r.events()]
    assert {e["data"]["order_handle"] for e in events} == {order["order_handle"]}


def test_bad_account_or_target_is_refused(cli_env: None, tenant: Tenant,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown account, a private address and a non-URL fail with a message."""
    assert main(["webhooks", "add", "--account", "nobody", "https://example.com/h"]) == 1
    assert "no account nobody" in capsys.readouterr().err
    assert main(["webhooks", "add", "--account", tenant.account_id,
                 "http://127.0.0.1:9/h"]) == 2
    assert "refused" in capsys.readouterr().err
    assert main(["webhooks", "add", "--account", tenant.account_id, "not a url"]) == 2
    assert "invalid webhook" in capsys.readouterr().err
