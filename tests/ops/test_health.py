"""``/health/live`` and ``/health/ready``: what a load balancer or Kubernetes probe reads."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.settings import DatabaseSettings, MailSettings, RoutingSettings, Settings
from tests.conftest import PG_ENV
from tests.processing import drain


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_live_answers(anon: TestClient) -> None:
    """Liveness is the process answering, with no dependency checked."""
    response = anon.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_names_each_part(anon: TestClient) -> None:
    """Ready: the database is reachable and migrated, and the queues are looked at."""
    drain(anon)  # fixes other tests stored and left unprocessed would count as a backlog
    response = anon.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert "revision" in body["checks"]["database"]["detail"]
    assert body["checks"]["jobs"]["status"] == "ok"
    assert body["checks"]["tracking"]["status"] == "ok"
    assert set(body["checks"]) == {"database", "jobs", "tracking"}  # nothing else configured


def test_ready_sees_the_in_process_runner(settings: Settings) -> None:
    """With the worker in the API process, its threads are what ``jobs`` reports."""
    with TestClient(create_app(settings, run_worker=True)) as client:
        body = client.get("/health/ready").json()
    assert body["checks"]["jobs"] == {"status": "ok",
                                      "detail": "in-process runner, 2 thread(s) alive"}


def test_ready_fails_on_configured_services_that_are_down(settings: Settings) -> None:
    """OSRM and SMTP are checked when configured; either one down is a 503 naming it."""
    port = closed_port()
    down = settings.model_copy(update={
        "routing": RoutingSettings(osrm_url=f"http://127.0.0.1:{port}"),
        "mail": MailSettings(host="127.0.0.1", port=port),
    })
    with TestClient(create_app(down, run_worker=False)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["osrm"]["status"] == "failing" and checks["smtp"]["status"] == "failing"
    assert checks["database"]["status"] == "ok"


class TcpProxy:
    """Forwards a loopback port to the database server; stopping it is the database going
    away for the app (the shared server itself is never stopped)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = closed_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()


@pytest.fixture
def proxied_settings(settings: Settings) -> Iterator[tuple[Settings, TcpProxy]]:
    """Settings whose database connections go through a proxy the test can stop."""
    if not os.environ.get(PG_ENV):
        pytest.skip("the database-down test needs PostgreSQL (a server to cut off)")
    url = make_url(settings.database.url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield settings.model_copy(update={"database": DatabaseSettings(url=through)}), proxy
    proxy.stop()


def test_ready_fails_while_the_database_is_down_and_recovers(
    proxied_settings: tuple[Settings, TcpProxy],
) -> None:
    """Cut the database off: 503 naming the database; bring it back: 200 again."""
    settings, proxy = proxied_settings
    with TestClient(create_app(settings, run_worker=False)) as client:
        assert client.get("/health/ready").status_code == 200
        proxy.stop()
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["status"] == "failing"
        assert client.get("/health/live").status_code == 200  # no reason to restart
        proxy.start()
        deadline = time.monotonic() + 10
        while (status := client.get("/health/ready").status_code) != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.2)
        assert status == 200
