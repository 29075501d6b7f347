"""The request limit is one bucket per account across server processes: two ``routekeeper
serve`` processes on the test database share it (on PostgreSQL through its table)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from routekeeper.settings import Settings
from tests.conftest import Tenant

BURST = 10
PER_S = 1.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_live(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Wait until the server answers /health/live."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health/live", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


@pytest.fixture(scope="module")
def two_servers(settings: Settings) -> Iterator[list[str]]:
    """Two API processes on the test database, reads limited to a burst of 10 at 1/s and
    failed credentials to a burst of 10 per address."""
    env = {
        **os.environ,
        "ROUTEKEEPER_ENVIRONMENT": "test",
        "ROUTEKEEPER_DATABASE__URL": settings.database.url,
        "ROUTEKEEPER_SECRET_KEY": settings.secret_key,
        "ROUTEKEEPER_JOBS__RUN_IN_API": "false",
        # The database backend: on PostgreSQL that is what "auto" picks; on SQLite it is
        # asked for, so the test shows the same sharing there.
        "ROUTEKEEPER_LIMITS__BACKEND": "database",
        "ROUTEKEEPER_LIMITS__REQUESTS": json.dumps({"read": {"per_s": PER_S, "burst": BURST}}),
        "ROUTEKEEPER_LIMITS__FAILURES_PER_ADDRESS": json.dumps({"per_s": PER_S,
                                                                "burst": BURST}),
        "ROUTEKEEPER_LOG__FORMAT": "json",
    }
    executable = Path(sys.executable).with_name("routekeeper")
    processes, urls = [], []
    try:
        for _ in range(2):
            port = free_port()
            processes.append(subprocess.Popen(
                [str(executable), "serve", "--no-worker", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            wait_live(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_a_burst_across_two_processes_shares_one_bucket(
    two_servers: list[str], tenant: Tenant, other_tenant: Tenant,
) -> None:
    """40 reads spread over both processes: about the burst is served, the rest are 429s with
    Retry-After from both processes; another account is unaffected."""
    auth = (tenant.account_id, tenant.secret_key)
    clients = [httpx.Client(base_url=url, auth=auth, timeout=10.0) for url in two_servers]
    try:
        started = time.monotonic()
        answers = [clients[i % 2].get("/workers/") for i in range(40)]
        elapsed = time.monotonic() - started
        served = [r for r in answers if r.status_code == 200]
        refused = [r for r in answers if r.status_code == 429]
        assert len(served) + len(refused) == 40
        # One shared bucket: the burst plus what refilled meanwhile, not twice the burst.
        assert BURST <= len(served) <= BURST + math.ceil(elapsed * PER_S) + 1
        assert {r.url.port for r in refused} == {c.base_url.port for c in clients}
        for response in refused:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["code"] == "rate_limited"
        other = httpx.Client(base_url=two_servers[1], timeout=10.0,
                             auth=(other_tenant.account_id, other_tenant.secret_key))
        with other:
            assert [other.get("/workers/").status_code for _ in range(5)] == [200] * 5
    finally:
        for client in clients:
            client.close()



@pytest.mark.slow
def test_failed_credentials_are_counted_across_processes(
    two_servers: list[str], tenant: Tenant,
) -> None:
    """Wrong secrets sent to both processes from one address share one failure bucket: about
    the burst is checked, then both answer 429; the right secret works after Retry-After."""
    answers = [httpx.get(f"{two_servers[i % 2]}/workers/", timeout=10.0,
                         auth=(tenant.account_id, f"wrong-{i}")) for i in range(30)]
    checked = [r for r in answers if r.status_code == 401]
    refused = [r for r in answers if r.status_code == 429]
    assert BURST <= len(checked) <= BURST + 4 and len(checked) + len(refused) == 30
    assert {r.url.port for r in refused} == {httpx.URL(url).port for url in two_servers}
    time.sleep(int(refused[-1].headers["Retry-After"]))
    right = httpx.get(f"{two_servers[0]}/workers/", timeout=10.0,
                      auth=(tenant.account_id, tenant.secret_key))
    assert right.status_code == 200
