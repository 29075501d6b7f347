"""The route embed over HTTP: ``POST /oauth/embed-token`` (contract 1.1), signed links the API
hands out, who may open the page, its JSON state and its event stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.accounts.secrets import TokenClaims, issue_token, now_s
from routekeeper.accounts.service import rotate_secret
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.views import live
from routekeeper.views.tokens import EMBED_SCOPE
from tests.conftest import Tenant

from .helpers import DEPOT, Shift, offset, path_of, start_shift


@pytest.fixture
def shift(tenant: Tenant, db: Database) -> Shift:
    """A tracked three-stop route of a fresh account."""
    return start_shift(tenant, db)


def token_of(url: str) -> str:
    """The ``token`` query parameter of an embed URL."""
    assert "?token=" in url, url
    return url.split("?token=", 1)[1]


def state_path(url: str) -> str:
    """The JSON state path of an embed URL (its token kept)."""
    return path_of(url).replace("?", "/state?", 1)


def test_the_api_hands_out_signed_embed_urls_that_open_without_credentials(
    shift: Shift, anon: TestClient,
) -> None:
    """A route's ``embed_url`` carries an embed token and the page opens with it alone."""
    assert shift.embed_url.startswith(f"http://testserver/embed/routes/{shift.route_handle}?")
    response = anon.get(path_of(shift.embed_url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Ada Lovelace" in response.text
    for handle in shift.handles:
        assert handle in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors" not in response.headers["content-security-policy"]
    # Tile requests must not carry the token in their Referer.
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_embed_token_endpoint_signs_a_route_embed_url(
    shift: Shift, api: TestClient, anon: TestClient, settings: Settings,
) -> None:
    """``POST /oauth/embed-token`` answers the contract's shape; its secure URL opens."""
    plain = shift.embed_url.split("?", 1)[0]
    response = api.post("/oauth/embed-token",
                        json={"embed_url": plain, "grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "embed_url",
                         "secure_embed_url"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.views.embed_token_ttl_s
    assert body["embed_url"] == plain
    assert body["secure_embed_url"] == f"{plain}?token={body['access_token']}"
    assert response.headers["cache-control"] == "no-store"
    assert anon.get(path_of(body["secure_embed_url"])).status_code == 200
    # A signed URL may be signed again: the old token is replaced, not kept beside the new.
    again = api.post("/oauth/embed-token", json={"embed_url": shift.embed_url,
                                                 "grant_type": "client_credentials"}).json()
    assert again["secure_embed_url"].count("token=") == 1


@pytest.mark.parametrize("body", [
    {"grant_type": "client_credentials"},
    {"embed_url": "", "grant_type": "client_credentials"},
    {"embed_url": "http://testserver/embed/routes/x"},
    {"embed_url": "http://testserver/embed/routes/x", "grant_type": "password"},
    {"embed_url": "http://testserver/orders/x", "grant_type": "client_credentials"},
])
def test_embed_token_endpoint_refuses_bad_requests_with_400(
    api: TestClient, body: dict[str, Any],
) -> None:
    """A missing embed URL, a URL that is no route embed, or another grant is a 400."""
    response = api.post("/oauth/embed-token", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"


def test_embed_token_endpoint_404s_for_routes_the_account_lacks(
    shift: Shift, other_tenant: Tenant,
) -> None:
    """Unknown routes, and another account's, are 404."""
    for url in ("http://testserver/embed/routes/no-such-route", shift.embed_url):
        response = other_tenant.client.post(
            "/oauth/embed-token", json={"embed_url": url, "grant_type": "client_credentials"})
        assert response.status_code == 404, response.text


def test_embed_token_endpoint_needs_credentials(shift: Shift, anon: TestClient) -> None:
    """Without account credentials the endpoint is a 401."""
    response = anon.post("/oauth/embed-token", json={"embed_url": shift.embed_url,
                                                     "grant_type": "client_credentials"})
    assert response.status_code == 401


def test_without_a_token_the_page_asks_for_account_credentials(
    shift: Shift, anon: TestClient, api: TestClient, other_tenant: Tenant,
) -> None:
    """No token: a Basic challenge; the account's own credentials open the page; another
    account's credentials find no such route."""
    plain = path_of(shift.embed_url).split("?", 1)[0]
    response = anon.get(plain)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert api.get(plain).status_code == 200
    assert other_tenant.client.get(plain).status_code == 404


def _forged(settings: Settings, tenant: Tenant, route_handle: str, **changes: Any) -> str:
    claims: dict[str, Any] = {"account_id": tenant.account_id, "secret_version": 1,
                              "expires_at": now_s() + 3600, "scope": EMBED_SCOPE,
                              "subject": route_handle}
    claims.update(changes)
    secret = claims.pop("secret", settings.signing_keys.current)
    return issue_token(secret, TokenClaims(**claims))


def test_expired_tampered_and_misdirected_tokens_are_refused_with_403(
    shift: Shift, anon: TestClient, settings: Settings, tenant: Tenant, db: Database,
) -> None:
    """An expired token, a tampered one, one of another scope, route or signing key, and a
    token whose account's secret was rotated since are all refused, on every embed path."""
    good = token_of(shift.embed_url)
    body, signature = good.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    other = start_shift(tenant, db, prefix="other")
    bad = {
        "expired": _forged(settings, tenant, shift.route_handle, expires_at=now_s() - 1),
        "tampered": f"{flipped}.{signature}",
        "resigned": _forged(settings, tenant, shift.route_handle, secret="not-the-key"),
        "api scope": _forged(settings, tenant, shift.route_handle, scope="api"),
        "other route": token_of(other.embed_url),
        "garbage": "not-a-token",
    }
    base = f"/embed/routes/{shift.route_handle}"
    for name, token in bad.items():
        for suffix in ("", "/state", "/events"):
            response = anon.get(f"{base}{suffix}", params={"token": token})
            assert response.status_code == 403, (name, suffix, response.text)
    assert anon.get(base, params={"token": good}).status_code == 200


def test_rotating_the_secret_revokes_embed_links(
    shift: Shift, anon: TestClient, db: Database, tenant: Tenant,
) -> None:
    """Embed tokens carry the secret's version: a rotation makes old links a 403."""
    assert anon.get(path_of(shift.embed_url)).status_code == 200
    with db.write() as session:
        assert rotate_secret(session, tenant.account_id) is not None
    assert anon.get(path_of(shift.embed_url)).status_code == 403


def test_state_and_streams_need_the_token(shift: Shift, anon: TestClient, api: TestClient
                                          ) -> None:
    """The JSON state and the event stream take only a token: none is a 401."""
    base = f"/embed/routes/{shift.route_handle}"
    for suffix in ("/state", "/events"):
        assert anon.get(base + suffix).status_code == 401
        assert api.get(base + suffix).status_code == 401


def test_a_token_of_a_deleted_route_finds_nothing(shift: Shift, anon: TestClient,
                                                  settings: Settings, tenant: Tenant) -> None:
    """A valid token for a route that does not exist (any more) is a 404, not a page."""
    token = _forged(settings, tenant, "gone-route")
    assert anon.get("/embed/routes/gone-route", params={"token": token}).status_code == 404
    for suffix in ("/state", "/events"):
        response = anon.get(f"/embed/routes/gone-route{suffix}", params={"token": token})
        assert response.status_code == 404, suffix


def test_state_shows_the_route_stops_and_latest_position(shift: Shift, anon: TestClient
                                                         ) -> None:
    """The state has the planned line, a stop per order in sequence, and the worker's newest
    position and trail once positions are posted through the API."""
    state = anon.get(state_path(shift.embed_url)).json()
    assert [s["n"] for s in state["map"]["stops"]] == [1, 2, 3]
    assert len(state["map"]["line"]) >= 3
    assert state["map"]["worker"] is None
    lon, lat = shift.stop_point(0)
    assert state["map"]["stops"][0]["point"] == [lat, lon]
    first = offset(DEPOT, 300.0, 0.0)
    second = offset(DEPOT, 600.0, 0.0)
    shift.post_position(*first)
    shift.post_position(*second)
    state = anon.get(state_path(shift.embed_url)).json()
    worker = state["map"]["worker"]
    assert (worker["lon"], worker["lat"]) == pytest.approx(second)
    assert [list(p) for p in state["map"]["trail"]] == [
        pytest.approx([first[1], first[0]]), pytest.approx([second[1], second[0]])]
    for handle in shift.handles:
        assert handle in state["panel"]


@pytest.fixture
def quick_streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[live.LiveTiming]:
    """Event streams that poll every 0.1 s and end after 3 s."""
    timing = live.LiveTiming(poll_s=0.1, lifetime_s=3.0, keepalive_s=1.0, retry_ms=500)
    monkeypatch.setattr(live, "TIMING", timing)
    yield timing


def test_the_event_stream_sends_changes_and_ends(
    shift: Shift, anon: TestClient, quick_streams: live.LiveTiming,
) -> None:
    """The stream sends the state at once, again when a position arrives (and not when
    nothing changed), then ends by itself after its lifetime."""
    events: list[dict[str, Any]] = []
    posted = False
    with anon.stream("GET", path_of(shift.embed_url).replace("?", "/events?", 1)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = iter(response.iter_lines())
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
                if not posted:
                    shift.post_position(*offset(DEPOT, 250.0, 0.0))
                    posted = True
    assert len(events) == 2, [e["map"]["worker"] for e in events]
    assert events[0]["map"]["worker"] is None
    assert events[1]["map"]["worker"]["lon"] == pytest.approx(offset(DEPOT, 250.0, 0.0)[0])


def test_leaflet_and_the_page_assets_are_served_here(anon: TestClient) -> None:
    """Leaflet comes from npm (node_modules) through this server, never a CDN, and the
    pages' own assets are cacheable."""
    for path in ("/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css",
                 "/static/views/map.js", "/static/views/views.css"):
        response = anon.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"].startswith("public, max-age=")
    assert "Leaflet" in anon.get("/static/leaflet/leaflet.js").text[:500]
