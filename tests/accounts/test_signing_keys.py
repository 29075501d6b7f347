"""The server's signing key: generated per install, never a published one, and rotatable."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s
from routekeeper.app import create_app
from routekeeper.cli.main import main
from routekeeper.core.clock import utcnow
from routekeeper.core.signing_keys import KEY_FILE_NAME, SigningKeyError
from routekeeper.exports.storage import sign_download
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.factories import worker_body

OLD_DEVELOPMENT_SECRET = "development-secret-do-not-use-in-production"


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, run_worker=False), raise_server_exceptions=False)


@pytest.fixture
def fresh(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings as a fresh install would have them: no ROUTEKEEPER_SECRET_KEY."""
    return settings.model_copy(update={"secret_key": None, "data_dir": tmp_path})


@pytest.fixture
def fresh_client(fresh: Settings) -> Iterator[TestClient]:
    """A client of an app started from ``fresh`` settings."""
    with _client(fresh) as client:
        yield client


def _bearer(client: TestClient, tenant: Tenant) -> dict[str, str]:
    response = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _forged_bearer(key: str, tenant: Tenant) -> dict[str, str]:
    token = issue_token(key, TokenClaims(tenant.account_id, 1, now_s() + 3600))
    return {"Authorization": f"Bearer {token}"}


def test_first_start_generates_a_private_key_file(fresh: Settings, fresh_client: TestClient,
                                                  tenant: Tenant) -> None:
    """Without ROUTEKEEPER_SECRET_KEY the first start writes a random key, mode 0600, next
    to the data, and a second process over the same data directory signs with the same key."""
    path = fresh.data_directory / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["current"]
    assert len(stored) >= 43 and stored != OLD_DEVELOPMENT_SECRET
    headers = _bearer(fresh_client, tenant)
    with _client(fresh) as second:
        assert second.get("/workers/", headers=headers).status_code == 200


def test_two_installs_have_different_keys(settings: Settings, tmp_path: Path) -> None:
    """Two data directories get two independent keys."""
    one = settings.model_copy(update={"secret_key": None, "data_dir": tmp_path / "one"})
    two = settings.model_copy(update={"secret_key": None, "data_dir": tmp_path / "two"})
    assert one.signing_keys.current != two.signing_keys.current


def test_tokens_signed_with_the_old_development_secret_are_refused(
    fresh_client: TestClient, tenant: Tenant
) -> None:
    """A bearer token and a download link forged with the formerly built-in key are refused
    (they answered 200 when that key was the default)."""
    assert fresh_client.get("/workers/", headers=_bearer(fresh_client, tenant)).status_code == 200
    forged = fresh_client.get("/workers/", headers=_forged_bearer(OLD_DEVELOPMENT_SECRET, tenant))
    assert forged.status_code == 401
    expires = now_s() + 3600
    link = (f"/exports/download/some-export?expires={expires}"
            f"&signature={sign_download(OLD_DEVELOPMENT_SECRET, 'some-export', expires)}")
    assert fresh_client.get(link).status_code == 403


def test_a_world_readable_key_file_is_refused(fresh: Settings) -> None:
    """A key file others can read is not used: whoever reads it can mint tokens."""
    path = fresh.data_directory / KEY_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current": secrets.token_urlsafe(32)}))
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        create_app(fresh, run_worker=False)


def test_a_refused_key_copied_into_settings_stops_start_up(settings: Settings) -> None:
    """Settings changed without validation (model_copy) are still checked at start-up."""
    with pytest.raises(SigningKeyError):
        create_app(settings.model_copy(update={"secret_key": "short"}), run_worker=False)


def _rotated(settings: Settings, old: str, *, until_s: float) -> Settings:
    return settings.model_copy(update={
        "secret_key": secrets.token_urlsafe(32), "previous_secret_key": old,
        "previous_secret_key_until": utcnow() + timedelta(seconds=until_s)})


def test_the_previous_key_verifies_until_its_grace_ends(
    settings: Settings, tenant: Tenant
) -> None:
    """After a rotation, bearer tokens, embed links, pagination tokens and download links
    signed with the previous key are accepted during the grace period and refused after."""
    old = secrets.token_urlsafe(32)
    before = settings.model_copy(update={"secret_key": old})
    basic = (tenant.account_id, tenant.secret_key)
    with _client(before) as client:
        headers = _bearer(client, tenant)
        for _ in range(2):
            assert client.post("/workers/", json=worker_body(), auth=basic).status_code == 201
        first = client.get("/workers/", params={"limit": 1}, auth=basic).json()
        page = first["pagination_token"]
        assert page
    embed = issue_token(old, TokenClaims(tenant.account_id, 1, now_s() + 3600, scope="embed",
                                         subject="no-route"))
    expires = now_s() + 3600
    link = (f"/exports/download/some-export?expires={expires}"
            f"&signature={sign_download(old, 'some-export', expires)}")

    def outcomes(client: TestClient) -> dict[str, int]:
        return {
            "bearer": client.get("/workers/", headers=headers).status_code,
            "download": client.get(link).status_code,
            "embed": client.get(f"/embed/routes/no-route/state?token={embed}").status_code,
            "page": client.get("/workers/", params={"limit": 1, "pagination_token": page},
                               auth=basic).status_code,
        }

    with _client(_rotated(settings, old, until_s=3600)) as client:
        during = outcomes(client)
        assert client.get("/workers/", headers=_bearer(client, tenant)).status_code == 200
    with _client(_rotated(settings, old, until_s=-1)) as client:
        after = outcomes(client)
    # During the grace: a signed link to a missing export and a route that does not exist
    # are 404s (the signature passed), not 403s.
    assert during == {"bearer": 200, "download": 404, "embed": 404, "page": 200}
    assert after == {"bearer": 401, "download": 403, "embed": 403, "page": 422}


def test_cli_rotates_the_generated_key_with_a_grace_period(
    fresh: Settings, fresh_client: TestClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``routekeeper keys rotate`` writes a new key; tokens of the old one keep working
    for the grace period, and a zero grace revokes them."""
    headers = _bearer(fresh_client, tenant)
    monkeypatch.delenv("ROUTEKEEPER_SECRET_KEY", raising=False)
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", fresh.database.url)
    monkeypatch.setenv("ROUTEKEEPER_DATA_DIR", str(fresh.data_directory))
    old = fresh.signing_keys.current
    assert main(["keys", "rotate", "--grace-s", "3600", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["previous_accepted_until"]
    path = fresh.data_directory / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fresh.signing_keys.current != old and fresh.signing_keys.previous == old
    with _client(fresh) as client:
        assert client.get("/workers/", headers=headers).status_code == 200
    assert main(["keys", "rotate", "--grace-s", "0"]) == 0
    with _client(fresh) as client:
        assert client.get("/workers/", headers=headers).status_code == 401
