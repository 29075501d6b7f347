"""HTTP Basic ``AccountID:SecretKey`` and Bearer tokens on every API path; every 401."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import inspect, select
from starlette.testclient import TestClient

import routekeeper.accounts.secrets as secrets_module
from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s
from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.models.account import Account
from routekeeper.settings import Settings
from tests.conftest import Tenant

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient answers


def basic(user: str, password: str) -> str:
    """An HTTP Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_unauthorized(response: Response) -> None:
    """A 401 in the ``HTTPError`` shape with a challenge."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"detail", "message"}
    assert isinstance(body["detail"], dict) and isinstance(body["detail"]["description"], str)
    assert body["message"] == "Authentication error"
    assert "WWW-Authenticate" in response.headers


def _tampered_token(tenant: Tenant, other: Tenant, anon: TestClient) -> str:
    # A real token of ``tenant`` whose payload now names ``other``: the signature no longer fits.
    token = anon.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key,
    }).json()["access_token"]
    body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["a"] = other.account_id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"Bearer {forged}.{signature}"


HeaderFor = Callable[[Tenant, Tenant, TestClient], str | None]

UNAUTHORIZED: dict[str, HeaderFor] = {
    "no header": lambda t, o, a: None,
    "wrong secret": lambda t, o, a: basic(t.account_id, "wrong"),
    "other account's secret": lambda t, o, a: basic(t.account_id, o.secret_key),
    "unknown account": lambda t, o, a: basic("0" * 32, t.secret_key),
    "empty credentials": lambda t, o, a: basic("", ""),
    "not base64": lambda t, o, a: "Basic !!!not-base64!!!",
    "no colon": lambda t, o, a: "Basic " + base64.b64encode(b"just-a-user").decode(),
    "nul in account id": lambda t, o, a: basic("a\x00b", t.secret_key),
    "very long account id": lambda t, o, a: basic("a" * 5000, t.secret_key),
    "unsupported scheme": lambda t, o, a: "Digest username=x",
    "bearer without token": lambda t, o, a: "Bearer",
    "bearer garbage": lambda t, o, a: "Bearer not.a-token",
    "bearer signed with another key": lambda t, o, a: "Bearer " + issue_token(
        "not-the-server-key", TokenClaims(t.account_id, 1, now_s() + 3600)),
    "bearer with tampered payload": _tampered_token,
}

PROTECTED = [
    ("GET", "/workers/"),
    ("POST", "/workers/"),
    ("GET", "/workers/some-worker"),
    ("PATCH", "/workers/some-worker"),
    ("DELETE", "/workers/some-worker"),
    ("GET", "/workers/ops-groups/"),
    ("POST", "/workers/ops-groups/"),
    ("GET", "/workers/ops-groups/default"),
    ("PATCH", "/workers/ops-groups/default"),
    ("GET", "/orders/"),
    ("GET", "/orders/some-order"),
]


@pytest.mark.parametrize("case", list(UNAUTHORIZED), ids=list(UNAUTHORIZED))
def test_bad_credentials_are_401(
    case: str, tenant: Tenant, other_tenant: Tenant, anon: TestClient
) -> None:
    """Every way of failing to authenticate is a 401 ``HTTPError`` with a challenge."""
    header = UNAUTHORIZED[case](tenant, other_tenant, anon)
    headers = {"Authorization": header} if header is not None else {}
    assert_unauthorized(anon.get("/workers/", headers=headers))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_api_path_needs_credentials(anon: TestClient, method: str, path: str) -> None:
    """Without credentials every API path answers 401, before validating anything."""
    assert_unauthorized(anon.request(method, path, json={}))


def test_basic_credentials_work(tenant: Tenant, anon: TestClient) -> None:
    """``Authorization: Basic base64(AccountID:SecretKey)`` opens the account."""
    headers = {"Authorization": basic(tenant.account_id, tenant.secret_key)}
    response = anon.get("/workers/ops-groups/default", headers=headers)
    assert response.status_code == 200, response.text


def _token(client: TestClient, account_id: str, secret_key: str) -> Response:
    return client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": account_id,
        "client_secret": secret_key,
    })


def test_client_credentials_give_a_bearer_token(
    tenant: Tenant, anon: TestClient, settings: Settings
) -> None:
    """POST /oauth/token (form-encoded) answers a Bearer token that opens the account."""
    response = _token(anon, tenant.account_id, tenant.secret_key)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.api.token_ttl_s
    assert tenant.client.post("/workers/", json={"worker_handle": "via-basic"}).status_code == 201
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    listed = anon.get("/workers/", headers=bearer)
    assert listed.status_code == 200, listed.text
    assert [w["worker_handle"] for w in listed.json()["workers"]] == ["via-basic"]
    created = anon.post("/workers/", json={"worker_handle": "via-token"}, headers=bearer)
    assert created.status_code == 201
    assert tenant.client.get("/workers/via-token").status_code == 200


def test_a_token_opens_only_its_own_account(
    tenant: Tenant, other_tenant: Tenant, anon: TestClient
) -> None:
    """Another account's objects are 404 to a Bearer token, as to Basic credentials."""
    other_tenant.client.post("/workers/", json={"worker_handle": "theirs"})
    token = _token(anon, tenant.account_id, tenant.secret_key).json()["access_token"]
    response = anon.get("/workers/theirs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


def test_wrong_grant_type_is_422_on_the_form(tenant: Tenant, anon: TestClient) -> None:
    """Only ``client_credentials`` is granted; anything else is a 422 on ``form.grant_type``."""
    response = anon.post("/oauth/token", data={
        "grant_type": "password", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key,
    })
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"form": {"grant_type": ["Must be one of: client_credentials."]}},
        "message": "Validation error",
    }


def test_missing_form_fields_are_422(anon: TestClient) -> None:
    """A token request without client_id or client_secret names them under ``form``."""
    response = anon.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 422
    fields = response.json()["detail"]["form"]
    assert {"client_id", "client_secret"} <= set(fields)


def test_bad_client_credentials_are_401(
    tenant: Tenant, other_tenant: Tenant, anon: TestClient
) -> None:
    """A wrong client_secret or an unknown client_id is a 401 ``HTTPError``."""
    assert_unauthorized(_token(anon, tenant.account_id, "wrong"))
    assert_unauthorized(_token(anon, tenant.account_id, tenant.secret_key[:-1]))
    assert_unauthorized(_token(anon, tenant.account_id, other_tenant.secret_key))
    assert_unauthorized(_token(anon, "unknown-account", tenant.secret_key))
    assert_unauthorized(_token(anon, "nul\x00id", tenant.secret_key))


def test_an_expired_token_is_401(
    tenant: Tenant, anon: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token works until its ``expires_in`` seconds have passed, and is a 401 after."""
    issued = utcnow()
    token = _token(anon, tenant.account_id, tenant.secret_key).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    ttl = settings.api.token_ttl_s
    nearly = issued + timedelta(seconds=ttl - 5)
    monkeypatch.setattr(secrets_module, "utcnow", lambda: nearly)
    assert anon.get("/workers/", headers=headers).status_code == 200
    expired = issued + timedelta(seconds=ttl + 1)
    monkeypatch.setattr(secrets_module, "utcnow", lambda: expired)
    assert_unauthorized(anon.get("/workers/", headers=headers))


def test_secrets_are_stored_only_as_salted_hashes(
    tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    """No column of the account row holds the secret key; salts differ between accounts."""
    columns = [column.key for column in inspect(Account).column_attrs]
    with db.read() as session:
        rows = {
            account.account_id: {key: str(getattr(account, key)) for key in columns}
            for account in session.scalars(select(Account).where(
                Account.account_id.in_([tenant.account_id, other_tenant.account_id])))
        }
    row = rows[tenant.account_id]
    assert all(tenant.secret_key not in value for value in row.values())
    assert row["secret_hash"] and row["secret_salt"]
    assert row["secret_salt"] != rows[other_tenant.account_id]["secret_salt"]
