"""Live views share one change feed per view (issue 16, item 2): streams cost no query each,
heartbeats cost none, and caps refuse streams before any database work."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Hashable, Iterator
from functools import partial
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.views import live
from routekeeper.views.live import LiveHub, LiveTiming, StreamRefused
from routekeeper.views.repository import change_marks
from tests.conftest import Tenant

from .helpers import DEPOT, Shift, offset, start_shift

FAST = LiveTiming(poll_s=0.05, lifetime_s=30.0, keepalive_s=0.2, retry_ms=500, refresh_s=60.0)


class FakeViews:
    """Marks and builds that count their calls; ``version`` is what the database holds."""

    def __init__(self) -> None:
        self.version = 1
        self.mark_calls = 0
        self.builds = 0
        self.lock = threading.Lock()

    def marks(self, keys: list[Any]) -> dict[Any, Any]:
        with self.lock:
            self.mark_calls += 1
            return {} if self.version < 0 else {k: self.version for k in keys}

    def build(self) -> str | None:
        with self.lock:
            self.builds += 1
            return None if self.version < 0 else json.dumps({"v": self.version})


async def _collect(hub: LiveHub, fake: FakeViews, n: int, frames: list[list[str]],
                   ready: asyncio.Event) -> None:
    async def one(i: int) -> None:
        async for chunk in hub.changes(("share", "t1"), fake.build, json.dumps({"v": 1}),
                                       f"10.0.0.{i % 250}"):
            frames[i].append(chunk)
            if sum(len(f) for f in frames) >= 2 * n:
                ready.set()
            if chunk.startswith("event: gone"):
                return
    await asyncio.gather(*(one(i) for i in range(n)))


def test_many_streams_of_one_view_share_one_feed() -> None:
    """500 streams of one view: each change is one marks query per tick and one build for
    all of them, every stream gets it, heartbeats cost nothing, and ``gone`` ends them."""
    fake = FakeViews()
    hub = LiveHub(fake.marks, per_view=1000, per_client=1000, total=1000, timing=FAST)
    n = 500
    frames: list[list[str]] = [[] for _ in range(n)]

    async def scenario() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(_collect(hub, fake, n, frames, ready))
        await ready.wait()  # every stream has its retry and first state
        assert hub.stream_count() == n
        await asyncio.sleep(0.5)  # ten ticks and two heartbeats per stream, no change
        assert fake.builds == 1  # the new feed's one check build, shared by all 500
        calls = fake.mark_calls
        assert 3 <= calls <= 30  # one per tick, not one per stream and tick
        fake.version = 2
        await asyncio.sleep(0.3)
        assert fake.builds == 2
        fake.version = -1  # the view is gone
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    hub.stop()
    for chunks in frames:
        states = [c for c in chunks if c.startswith("event: state")]
        assert [json.loads(s.split("data: ", 1)[1])["v"] for s in states] == [1, 2]
        assert any(c.startswith(": keepalive") for c in chunks)
        assert chunks[-1].startswith("event: gone")
    assert hub.stream_count() == 0


def test_caps_refuse_per_view_per_client_and_per_process() -> None:
    """Over a cap a stream is refused: 429 for a view or an address, 503 for the process."""
    fake = FakeViews()
    hub = LiveHub(fake.marks, per_view=2, per_client=3, total=5, timing=FAST)

    async def scenario() -> None:
        gens = []

        async def open_stream(key: tuple[str, str], client: str) -> None:
            hub.admit(key, client)
            gen = hub.changes(key, fake.build, "{}", client)
            await gen.__anext__()
            gens.append(gen)

        for key, client in ((("share", "a"), "1"), (("share", "a"), "2"), (("share", "b"), "1"),
                            (("share", "b"), "1")):
            await open_stream(key, client)
        with pytest.raises(StreamRefused) as view:
            hub.admit(("share", "a"), "9")
        assert view.value.status == 429 and "view" in view.value.reason
        with pytest.raises(StreamRefused) as address:
            hub.admit(("share", "c"), "1")
        assert address.value.status == 429 and "address" in address.value.reason
        await open_stream(("share", "c"), "2")
        with pytest.raises(StreamRefused) as process:
            hub.admit(("share", "d"), "7")
        assert process.value.status == 503
        for gen in gens:
            await gen.aclose()
        assert hub.stream_count() == 0
        hub.admit(("share", "a"), "1")  # closed streams free their places

    asyncio.run(scenario())
    hub.stop()


@pytest.fixture
def shift(tenant: Tenant, db: Database) -> Shift:
    """A tracked three-stop route of a fresh account."""
    return start_shift(tenant, db, prefix="live")


def test_change_marks_move_with_positions_and_orders(shift: Shift, db: Database,
                                                     tenant: Tenant) -> None:
    """The one query per tick sees a new position (share and embed views) and an order
    change; unknown views have no marks."""
    share = ("share", shift.tracking_id(0))
    embed = ("embed", tenant.account_id, shift.route_handle)
    missing = ("share", "no-such-id")
    with db.read() as session:
        before = change_marks(session, [share, embed, missing])
    assert set(before) == {share, embed}
    shift.post_position(*offset(DEPOT, 120.0, 0.0))
    with db.read() as session:
        after = change_marks(session, [share, embed])
    assert after[share] != before[share] and after[embed] != before[embed]


@pytest.fixture
def capped(app: Any) -> Iterator[LiveHub]:
    """The app's hub with small caps and fast ticks for one test."""
    hub: LiveHub = app.state.live_hub
    saved = (hub.per_view, hub.per_client, hub.total, hub.timing)
    hub.per_view, hub.per_client, hub.total, hub.timing = 2, 3, 100, FAST
    yield hub
    hub.per_view, hub.per_client, hub.total, hub.timing = saved


def test_http_streams_over_the_cap_are_refused_with_retry_after(
    shift: Shift, anon: TestClient, capped: LiveHub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two streams of one share link are allowed, the third is a 429 with Retry-After
    (answered without building the view); a position reaches both open streams."""
    path = f"/t/{shift.tracking_id(0)}/events"
    monkeypatch.setattr(live, "TIMING", FAST)
    with anon.stream("GET", path) as first, anon.stream("GET", path) as second:
        assert first.status_code == second.status_code == 200
        refused = anon.get(path)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"]
        assert capped.stream_count() == 2
        shift.post_position(*offset(DEPOT, 150.0, 0.0))
        for response in (first, second):
            states = 0
            for line in response.iter_lines():
                if line.startswith("data: "):
                    states += 1
                    if states == 2:
                        break
            assert states == 2


def test_a_tick_builds_within_its_budget_stalest_first() -> None:
    """Ten changed views whose builds take 20 ms each, with a 50 ms budget per tick: a tick
    builds only a few, the stalest first, and the rest follow in the next ticks."""
    built: list[int] = []

    def slow_build(i: int) -> str:
        time.sleep(0.02)
        built.append(i)
        return json.dumps({"view": i, "round": len(built)})

    timing = LiveTiming(poll_s=1.0, refresh_s=600.0, build_budget_s=0.05)
    version = {"v": 1}
    hub = LiveHub(lambda keys: {k: version["v"] for k in keys}, per_view=10, per_client=10,
                  total=100, timing=timing)
    feeds: dict[Hashable, live._Feed] = {
        i: live._Feed(partial(slow_build, i), marks=0, built_at=float(i))
        for i in range(10)}
    hub._tick(feeds)
    assert 2 <= len(built) <= 4  # the budget stops the tick, with at least one build
    assert built == sorted(built)  # stalest (smallest built_at) first
    for _ in range(10):
        hub._tick(feeds)
    assert sorted(built) == list(range(10))  # every view was rebuilt exactly once
    version["v"] = 2
    rounds = 0
    while len(built) < 20:
        hub._tick(feeds)
        rounds += 1
    assert sorted(built[10:]) == list(range(10)) and rounds >= 3
