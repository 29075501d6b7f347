"""The console over HTTP: sign-in without secrets in URLs, cookie and form protections,
tenancy, and validation answered on the page."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from routekeeper.accounts.service import rotate_secret
from routekeeper.db.engine import Database
from tests.conftest import Tenant


def signed_in(tenant: Tenant) -> tuple[TestClient, str]:
    """A client with a console session of ``tenant`` and the session's form token."""
    client = TestClient(tenant.client.app, raise_server_exceptions=False)
    response = client.post("/console/login", data={"account_id": tenant.account_id,
                                                   "secret_key": tenant.secret_key},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    page = client.get("/console/webhooks")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return client, match.group(1)


def test_pages_need_a_session(anon: TestClient) -> None:
    """Without a session every console page sends the browser to the sign-in form."""
    for path in ("/console", "/console/webhooks", "/console/devices", "/console/exports",
                 "/console/secret"):
        response = anon.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    form = anon.get("/console/login")
    assert form.status_code == 200 and 'method="post"' in form.text
    assert form.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]


def test_a_wrong_secret_is_refused_on_the_page(anon: TestClient, tenant: Tenant) -> None:
    """A wrong secret answers 401 with a message, and no session."""
    response = anon.post("/console/login", data={"account_id": tenant.account_id,
                                                 "secret_key": "wrong"})
    assert response.status_code == 401
    assert "do not match" in response.text and "set-cookie" not in response.headers


def test_forms_without_the_session_token_are_refused(tenant: Tenant) -> None:
    """A post without (or with another) form token is a 403 and changes nothing."""
    client, token = signed_in(tenant)
    refused = client.post("/console/webhooks", data={"url": "http://127.0.0.1:9/x",
                                                     "csrf": "0" * 40})
    assert refused.status_code == 403
    assert tenant.client.get("/webhooks/endpoints").json()["endpoints"] == []
    rotated = client.post("/console/secret/rotate", data={"confirm": "yes"})
    assert rotated.status_code == 403
    assert tenant.client.get("/workers/").status_code == 200  # the secret is unchanged
    assert token


def test_validation_is_answered_on_the_page(tenant: Tenant) -> None:
    """A bad URL or an unknown worker is said on the form, with what was typed kept."""
    client, token = signed_in(tenant)
    bad = client.post("/console/webhooks", data={"url": "not a url", "csrf": token})
    assert bad.status_code == 422 and "was not added" in bad.text
    assert 'value="not a url"' in bad.text and 'role="alert"' in bad.text
    device = client.post("/console/devices", data={"device_id": "p1", "worker_handle": "ghost",
                                                   "csrf": token})
    assert device.status_code == 422 and "was not registered" in device.text


def test_another_accounts_endpoint_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    """A console session reaches its own account's endpoints only."""
    created = other_tenant.client.post("/webhooks/endpoints",
                                       json={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201
    client, token = signed_in(tenant)
    endpoint_id = created.json()["id"]
    assert client.get(f"/console/webhooks/{endpoint_id}").status_code == 404
    assert client.post(f"/console/webhooks/{endpoint_id}/rotate",
                       data={"csrf": token}).status_code == 404


def test_rotating_the_secret_elsewhere_ends_console_sessions(tenant: Tenant, db: Database
                                                             ) -> None:
    """A session is bound to the secret it was made with: an API-side rotation ends it."""
    client, _ = signed_in(tenant)
    with db.write() as session:
        rotate_secret(session, tenant.account_id)
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/console/login"])
def test_the_secret_is_never_taken_from_a_url(anon: TestClient, tenant: Tenant,
                                              path: str) -> None:
    """Credentials in the query string are ignored: sign-in only reads the posted form."""
    response = anon.get(path, params={"account_id": tenant.account_id,
                                      "secret_key": tenant.secret_key},
                        follow_redirects=False)
    assert response.status_code == 200 and "set-cookie" not in response.headers
    posted = anon.post(f"{path}?account_id={tenant.account_id}&secret_key="
                       f"{tenant.secret_key}", follow_redirects=False)
    assert posted.status_code == 401
