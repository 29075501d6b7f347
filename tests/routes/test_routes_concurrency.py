"""An order is on at most one open route, also when requests race: concurrent adds and
route creations naming the same order from threads, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.routes.helpers import create_route, order_row, orders_at, refs, stored_route

ROUNDS = 4


def _race(tenant: Tenant, app: Any, calls: list[Callable[[TestClient], Any]]) -> list[Any]:
    """Run the calls at the same moment, each from its own thread and client; responses."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        """Wait for the others, then make this thread's request."""
        with TestClient(app, raise_server_exceptions=False) as client:
            client.auth = (tenant.account_id, tenant.secret_key)
            barrier.wait()
            results[index] = calls[index](client)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_adds_of_one_order_to_two_routes(api: TestClient, tenant: Tenant,
                                                    app: Any, db: Database) -> None:
    """Exactly one add wins; the other is a 409 (never a 500) and its route is untouched."""
    for _ in range(ROUNDS):
        first, second, contested = orders_at(api, (13.41, 52.5), (13.42, 52.5), (13.43, 52.5))
        one, two = create_route(api, [first]), create_route(api, [second])
        paths = [f"/orders/routes/{r['route_handle']}/add" for r in (one, two)]
        responses = _race(tenant, app, [
            lambda c, p=p, o=contested: c.post(p, json={"orders": refs(o), "resequence": True})
            for p in paths
        ])
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["code"] == "order_not_unplanned"
        winner = (one, two)[[r.status_code for r in responses].index(200)]
        assert order_row(db, tenant.account_id, contested) == ("planned",
                                                               winner["route_handle"])
        versions = sorted(stored_route(db, tenant.account_id, r["route_handle"])["version"]
                          for r in (one, two))
        assert versions == [1, 2]


def test_concurrent_route_creations_with_one_order(api: TestClient, tenant: Tenant,
                                                   app: Any, db: Database) -> None:
    """Two POST /orders/routes/ naming the same order: one 201, one 409, one route."""
    for round_ in range(ROUNDS):
        (contested,) = orders_at(api, (13.41, 52.5))
        handles = [f"race-{round_}-a", f"race-{round_}-b"]
        responses = _race(tenant, app, [
            lambda c, h=h, o=contested: c.post("/orders/routes/", json={"orders": refs(o),
                                                                       "route_handle": h})
            for h in handles
        ])
        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 409], [r.text for r in responses]
        winner = handles[[r.status_code for r in responses].index(201)]
        assert order_row(db, tenant.account_id, contested) == ("planned", winner)
        loser = next(h for h in handles if h != winner)
        assert api.get(f"/orders/routes/{loser}").status_code == 404


def test_concurrent_changes_to_one_route_serialise(api: TestClient, tenant: Tenant,
                                                   app: Any, db: Database) -> None:
    """Two adds of different orders to one route both land, one version each."""
    route = create_route(api, orders_at(api, (13.41, 52.5)))
    path = f"/orders/routes/{route['route_handle']}/add"
    extra = orders_at(api, (13.42, 52.5), (13.43, 52.5))
    responses = _race(tenant, app, [
        lambda c, h=h: c.post(path, json={"orders": refs(h)}) for h in extra
    ])
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    stored = stored_route(db, tenant.account_id, route["route_handle"])
    assert stored["version"] == 3
    assert sorted(o[2] for o in stored["orders"]) == [0, 1, 2]
    # With the version both read, only one of two racing changes may win.
    responses = _race(tenant, app, [
        lambda c, m=m: c.patch(f"/orders/routes/{route['route_handle']}",
                               params={"version": 3}, json={"metadata": {"m": m}})
        for m in (1, 2)
    ])
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert stored_route(db, tenant.account_id, route["route_handle"])["version"] == 4
