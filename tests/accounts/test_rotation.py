"""``routekeeper accounts rotate-secret``: the old secret and its tokens stop working."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from routekeeper.cli.main import main
from routekeeper.settings import Settings
from tests.conftest import Tenant


def _bearer(client: TestClient, account_id: str, secret_key: str) -> dict[str, str]:
    response = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": account_id,
        "client_secret": secret_key,
    })
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_rotation_revokes_the_old_secret_and_its_tokens(
    tenant: Tenant,
    other_tenant: Tenant,
    anon: TestClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After rotation only the new secret and tokens issued from it open the account; other
    accounts are untouched."""
    old_token = _bearer(anon, tenant.account_id, tenant.secret_key)
    their_token = _bearer(anon, other_tenant.account_id, other_tenant.secret_key)
    monkeypatch.delenv("ROUTEKEEPER_DATABASE_URL", raising=False)
    monkeypatch.delenv("ROUTEKEEPER_ENVIRONMENT", raising=False)
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", settings.database.url)

    assert main(["accounts", "rotate-secret", tenant.account_id, "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["account_id"] == tenant.account_id
    new_secret = rotated["secret_key"]
    assert new_secret != tenant.secret_key

    old_basic = anon.get("/workers/", auth=(tenant.account_id, tenant.secret_key))
    assert old_basic.status_code == 401
    assert anon.get("/workers/", headers=old_token).status_code == 401
    refused = anon.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key,
    })
    assert refused.status_code == 401

    assert anon.get("/workers/", auth=(tenant.account_id, new_secret)).status_code == 200
    new_token = _bearer(anon, tenant.account_id, new_secret)
    assert anon.get("/workers/", headers=new_token).status_code == 200
    assert anon.get("/workers/", headers=their_token).status_code == 200
    assert other_tenant.client.get("/workers/").status_code == 200
