"""Every statement the API and the workers issue in a day's work pins its account, except
the few global ones listed here (and in docs/deploy.md) with the reason they are global."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.exports.conftest import start_export, status
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow
from tests.tracking.api_helpers import TrackClock, arrive_at_p, make_road
from tests.webhooks.receiver import Receiver

from .statements import problem, recording

# (pattern of the statement, why it is global). Each is on the coordinator on Citus.
GLOBAL: list[tuple[str, str]] = [
    (r"^(SELECT|UPDATE|INSERT INTO|DELETE FROM) job\b|^SELECT job\.",
     "the job queue: claims, leases, fencing and periodic slots span accounts"),
    (r"FROM device WHERE device\.key_prefix = ",
     "an ingest key names no account: its device is found by the key's prefix"),
    (r"^SELECT position_inbox\.account_id, position_inbox\.device_id, "
     r"min\(position_inbox\.received_at\) AS \w+ FROM position_inbox GROUP BY",
     "the tracking processor finds the devices with waiting fixes, of every account"),
    (r"FROM order_export WHERE order_export\.id = ",
     "a signed download link names no account: its export is found by id"),
    (r'WHERE "order"\.tracking_id = ',
     "a public share link names no account: its order is found by tracking id"),
]


def day_of_work(api: TestClient, tenant: Tenant, db: Database, settings: Settings,
                clock: TrackClock, receiver: Receiver) -> None:
    """A dispatcher's day through the API, with the worker running its jobs."""
    assert api.post("/webhooks/endpoints", json={"url": receiver.url}).status_code == 201
    add_worker(api)
    day = tomorrow()
    plan_id = post_plan(api, [day_order(day, 13.40, 52.51), day_order(day, 13.41, 52.52)])
    run_jobs(db, settings)
    assert api.get(f"/orders/plans/{plan_id}").status_code == 200
    assert api.get("/orders/", params={"limit": 5}).status_code == 200
    assert api.get("/orders/routes/").status_code == 200
    road = make_road(api, db, tenant, clock)
    arrive_at_p(road)
    order = road.order("P")
    assert api.post(f"/orders/{order['order_handle']}/complete").status_code == 200
    assert api.get(f"/orders/routes/{road.route_handle}").status_code == 200
    export_id = start_export(api)
    build_runner(db, settings).run_until_idle()
    done = status(api, export_id)
    assert done["status"] == "completed"
    anonymous = TestClient(api.app)
    link = str(done["presigned_url"]).removeprefix(settings.public_url)
    assert anonymous.get(link).status_code == 200
    share = anonymous.get(f"/tracking/{road.tracking_id('Q')}")
    assert share.status_code == 200, share.text
    receiver.wait_for(1)
    assert api.get("/devices/").status_code == 200


def test_every_tenant_statement_pins_its_account(
    tenant: Tenant, db: Database, settings: Settings, track_clock: TrackClock, travel: Any,
) -> None:
    """Record the day's statements; any that would fan out over shards and is not a listed
    global one fails the test."""
    receiver = Receiver()
    try:
        with recording() as recorder:
            day_of_work(tenant.client, tenant, db, settings, track_clock, receiver)
    finally:
        receiver.close()
    assert len(recorder.statements) > 200
    bad: Counter[str] = Counter()
    for statement in recorder.statements:
        why = problem(statement)
        if why and not any(re.search(p, statement) for p, _ in GLOBAL):
            bad[f"{why}: {statement[:400]}"] += 1
    assert not bad, "\n".join(f"{n} x {s}" for s, n in bad.most_common())
    # The list is exactly what the day needed: each global kind occurred.
    for pattern, why in GLOBAL:
        assert any(re.search(pattern, s) for s in recorder.statements), f"unused: {why}"
