"""Group commit of uploads (``tracking/uploads.py``): uploads that arrive while a group is being
written go into the next group together, and each still gets its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.tracking import uploads
from routekeeper.tracking.ingest import Outcome, Upload
from tests.conftest import Tenant

from .api_helpers import make_worker, register, stored_positions, ts

NOW = datetime.now(UTC).replace(microsecond=0)
GroupHook = Callable[[Sequence[Upload]], None]


class Groups:
    """The groups the writer wrote, with a gate that holds the first one until opened."""

    def __init__(self) -> None:
        self.sizes: list[list[str]] = []
        self.first_started = threading.Event()
        self.gate = threading.Event()
        self.before: GroupHook | None = None


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[Groups]:
    seen = Groups()
    real = uploads.ingest_group

    def recorded(*args: Any) -> list[Outcome]:
        group: Sequence[Upload] = args[-1]
        seen.sizes.append([_name(upload) for upload in group])
        if len(seen.sizes) == 1:
            seen.first_started.set()
            assert seen.gate.wait(10)
        if seen.before is not None:
            seen.before(group)
        return real(*args)

    monkeypatch.setattr(uploads, "ingest_group", recorded)
    yield seen
    seen.gate.set()


def _name(upload: Upload) -> str:
    device = upload.device
    return getattr(device, "key", None) or getattr(device, "device_id", "?")


def osmand(client: TestClient, key: str, at: datetime, lon: float = 13.4) -> httpx.Response:
    return client.get("/osmand", params={"id": key, "lat": "52.5", "lon": str(lon),
                                         "timestamp": ts(at)})


def in_threads(calls: dict[str, Callable[[], httpx.Response]], writer: uploads.UploadWriter,
               queued: int, groups: Groups) -> dict[str, httpx.Response]:
    """Send each call from a thread once the first group is being written, wait until
    ``queued`` uploads wait, then let the writer go on; the answers by name."""
    answers: dict[str, httpx.Response] = {}

    def send(name: str, call: Callable[[], httpx.Response]) -> None:
        answers[name] = call()

    assert groups.first_started.wait(10)
    threads = [threading.Thread(target=send, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while writer.queued < queued and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)
    assert writer.queued == queued
    groups.gate.set()
    for thread in threads:
        thread.join(10)
    return answers


def fleet(api: TestClient, count: int) -> list[str]:
    make_worker(api, "w1")
    return [register(api, f"d{index}", "w1") for index in range(count)]


def test_uploads_that_arrive_together_are_one_group_with_their_own_answers(
    api: TestClient, db: Database, tenant: Tenant, groups: Groups
) -> None:
    """While one upload is being written, four more arrive: a good key each for d1 and d2, an
    unknown key, and d1 again. The next group holds the first three (each key once), d1's
    second upload waits for the one after; every request gets its own answer."""
    keys = fleet(api, 3)
    anon = TestClient(api.app, raise_server_exceptions=False)
    writer: uploads.UploadWriter = api.app.state.uploads
    blocker = threading.Thread(target=osmand, args=(anon, keys[0], NOW - timedelta(seconds=9)))
    blocker.start()
    answers = in_threads({
        "d1 first": lambda: osmand(anon, keys[1], NOW - timedelta(seconds=8)),
        "d2": lambda: osmand(anon, keys[2], NOW - timedelta(seconds=8)),
        "unknown": lambda: osmand(anon, "rkd_" + "x" * 43, NOW - timedelta(seconds=8)),
    }, writer, 3, groups)
    blocker.join(10)
    second = osmand(anon, keys[1], NOW - timedelta(seconds=7), lon=13.4001)

    assert [len(group) for group in groups.sizes] == [1, 3, 1]
    assert answers["unknown"].status_code == 401
    for name in ("d1 first", "d2"):
        assert answers[name].status_code == 200, answers[name].text
        assert answers[name].json()["accepted"] == 1
    assert second.status_code == 200 and second.json()["duplicates"] == 0
    counts = [stored_positions(db, tenant.account_id, f"d{index}") for index in range(3)]
    assert counts == [1, 2, 1]
    last = api.get("/devices/d1").json()["last_location"]
    assert last["geometry"]["coordinates"] == [13.4001, 52.5]


def test_one_device_twice_in_a_group_waits_for_the_next(
    api: TestClient, db: Database, tenant: Tenant, groups: Groups
) -> None:
    """An upload with the ingest key and one with account credentials for the same device
    arrive together: they are written one after the other, the older fix first."""
    keys = fleet(api, 2)
    anon = TestClient(api.app, raise_server_exceptions=False)
    writer: uploads.UploadWriter = api.app.state.uploads
    blocker = threading.Thread(target=osmand, args=(anon, keys[0], NOW - timedelta(seconds=9)))
    blocker.start()
    body = {"locations": [{"recorded_at": ts(NOW - timedelta(seconds=5)),
                           "geometry": {"type": "Point", "coordinates": [13.4002, 52.5]}}]}
    answers = in_threads({
        "key": lambda: osmand(anon, keys[1], NOW - timedelta(seconds=6)),
        "account": lambda: api.post("/devices/d1/locations", json=body),
    }, writer, 2, groups)
    blocker.join(10)
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "key": 200, "account": 200}
    assert stored_positions(db, tenant.account_id, "d1") == 2
    assert api.get("/devices/d1").json()["last_location"]["geometry"]["coordinates"] == [
        13.4002, 52.5]


def test_a_group_that_fails_is_written_again_one_by_one(
    api: TestClient, db: Database, tenant: Tenant, groups: Groups
) -> None:
    """When the database refuses a whole group, its uploads are written one by one: only the
    one at fault fails (a 500), the others are stored and answered."""
    keys = fleet(api, 4)
    anon = TestClient(api.app, raise_server_exceptions=False)
    writer: uploads.UploadWriter = api.app.state.uploads
    poisoned = keys[3]

    def fail_with_poison(group: Sequence[Upload]) -> None:
        if any(_name(upload) == poisoned for upload in group):
            raise RuntimeError("the database refused the group")

    groups.before = fail_with_poison
    blocker = threading.Thread(target=osmand, args=(anon, keys[0], NOW - timedelta(seconds=9)))
    blocker.start()
    answers = in_threads({f"d{index}": (lambda key=keys[index]: osmand(
        anon, key, NOW - timedelta(seconds=8))) for index in (1, 2, 3)}, writer, 3, groups)
    blocker.join(10)
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "d1": 200, "d2": 200, "d3": 500}
    assert [len(group) for group in groups.sizes] == [1, 3, 1, 1, 1]
    counts = [stored_positions(db, tenant.account_id, f"d{index}") for index in range(4)]
    assert counts == [1, 1, 1, 0]
