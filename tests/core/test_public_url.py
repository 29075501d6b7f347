"""The base of handed-out links: configured, a trusted proxy's X-Forwarded-*, or the bound
address (issue 15 item 8)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.cli.main import main
from routekeeper.core.public_url import base_from_headers, bound_url, is_trusted, parse_trusted
from routekeeper.db.engine import Database
from routekeeper.settings import ApiSettings, Settings
from tests.conftest import Tenant
from tests.factories import order_body

PROXY = ("10.0.0.7", 40000)
FORWARDED = {"X-Forwarded-Host": "track.example.com", "X-Forwarded-Proto": "https",
             "X-Forwarded-Prefix": "/rk"}


def test_headers_make_a_base() -> None:
    """Host, scheme, a non-default port and a prefix make the base; the first of a chain."""
    assert base_from_headers({"x-forwarded-host": "a.example, b.internal",
                              "x-forwarded-proto": "https", "x-forwarded-port": "8443"}) == \
        "https://a.example:8443"
    assert base_from_headers({"x-forwarded-host": "a.example", "x-forwarded-port": "80"}) == \
        "http://a.example"
    assert base_from_headers({"x-forwarded-host": "a.example", "x-forwarded-prefix": "/x/"}) \
        == "http://a.example/x"
    assert base_from_headers({"x-forwarded-proto": "https"}) is None
    assert base_from_headers({"x-forwarded-host": "evil.example/path"}) is None


def test_trust_is_by_network() -> None:
    """Only peers inside the configured networks are believed."""
    trusted = parse_trusted("10.0.0.0/8, ::1")
    assert is_trusted("10.1.2.3", trusted) and is_trusted("::1", trusted)
    assert not is_trusted("192.168.1.1", trusted) and not is_trusted("testclient", trusted)
    assert not is_trusted("10.1.2.3", [])
    with pytest.raises(ValueError):
        parse_trusted("not-an-address")


def test_bound_url_names_wildcards_and_brackets_ipv6() -> None:
    """A concrete bind is used as is; IPv6 gets brackets; a wildcard the machine's name."""
    assert bound_url("127.0.0.1", 11500) == "http://127.0.0.1:11500"
    assert bound_url("::1", 11501) == "http://[::1]:11501"
    assert not bound_url("0.0.0.0", 11502).startswith("http://0.0.0.0")


def test_configured_url_wins_then_bound_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """ROUTEKEEPER_PUBLIC_URL is used when set; otherwise the bound address."""
    monkeypatch.delenv("ROUTEKEEPER_PUBLIC_URL", raising=False)
    assert Settings(_env_file=None).public_url == "http://127.0.0.1:8000"
    assert Settings(_env_file=None, bound_url="http://h:9").public_url == "http://h:9"
    monkeypatch.setenv("ROUTEKEEPER_PUBLIC_URL", "https://rk.example/")
    assert Settings(_env_file=None, bound_url="http://h:9").public_url == "https://rk.example"


@pytest.fixture
def proxied(settings: Settings, db: Database, tenant: Tenant) -> Iterator[dict[str, Any]]:
    """Two clients of an app without a configured URL that trusts 10.0.0.0/8: one through
    the proxy, one from elsewhere (both as the test's tenant)."""
    local = settings.model_copy(update={
        "configured_public_url": None, "bound_url": "http://127.0.0.1:11555",
        "api": ApiSettings(trusted_proxies="10.0.0.0/8")})
    app = create_app(local, run_worker=False)
    auth = (tenant.account_id, tenant.secret_key)
    with TestClient(app, client=PROXY) as via_proxy, \
            TestClient(app, client=("192.168.5.5", 1)) as direct:
        yield {"proxy": via_proxy, "direct": direct, "auth": auth}


def _embed(client: TestClient, auth: tuple[str, str], headers: dict[str, str]) -> str:
    worker = f"w-{os.urandom(3).hex()}"
    assert client.post("/workers/", json={"worker_handle": worker}, auth=auth).status_code \
        == 201
    body = {"track_mode": "on_time", "worker_handle": worker, "orders": [order_body()]}
    route = client.post("/orders/track", json=body, auth=auth, headers=headers)
    assert route.status_code == 201, route.text
    assert route.json()["orders"][0]["share_url"].startswith(
        route.json()["embed_url"].split("/embed/")[0])
    return str(route.json()["embed_url"])


def test_trusted_proxy_headers_make_the_links(proxied: dict[str, Any]) -> None:
    """Through the trusted proxy links use the forwarded base; from elsewhere the same
    headers are ignored and links use the bound address."""
    assert _embed(proxied["proxy"], proxied["auth"], FORWARDED).startswith(
        "https://track.example.com/rk/embed/routes/")
    assert _embed(proxied["proxy"], proxied["auth"], {}).startswith(
        "http://127.0.0.1:11555/embed/routes/")
    assert _embed(proxied["direct"], proxied["auth"], FORWARDED).startswith(
        "http://127.0.0.1:11555/embed/routes/")


def test_serve_links_name_the_port_it_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``routekeeper serve --port 0`` binds a free port and its links name that port."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    for name in [k for k in os.environ if k.startswith("ROUTEKEEPER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", url)
    assert main(["db", "upgrade"]) == 0
    assert main(["accounts", "create", "--name", "Serve", "--json"]) == 0
    created = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    script = Path(sys.executable).with_name("routekeeper")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEKEEPER_")}
    env["ROUTEKEEPER_DATABASE__URL"] = url
    server = subprocess.Popen([str(script), "serve", "--port", "0", "--no-worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match and match.group(2) != "0", line
        base = match.group(1)
        auth = (created["account_id"], created["secret_key"])
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        assert httpx.post(f"{base}/workers/", json={"worker_handle": "w"}, auth=auth,
                          timeout=30).status_code == 201
        route = httpx.post(f"{base}/orders/track", auth=auth, timeout=30, json={
            "track_mode": "on_time", "worker_handle": "w", "orders": [order_body()]}).json()
        assert route["embed_url"].startswith(f"{base}/embed/routes/")
        assert route["orders"][0]["share_url"].startswith(f"{base}/t/")
    finally:
        server.terminate()
        server.wait(timeout=30)
