"""Contract sections 2.4 and 2.5: candidate workers of an order (Bearer auth, as the
contract's only scheme for it) and re-running a plan's planning."""

from __future__ import annotations

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.contract.spec import answers, fails
from tests.factories import create_orders_body, order_body, worker_body
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow


def test_candidate_workers_with_a_bearer_token(api: TestClient, anon: TestClient,
                                               tenant: Tenant) -> None:
    """A client-credentials token lists the order's candidate workers with their insert
    position; an unknown order is a 404 HTTPError and a bad limit a 422."""
    for handle in ("cand-a", "cand-b"):
        body = worker_body(worker_handle=handle, product_types=[], schedule=[])
        assert api.post("/workers/", json=body).status_code == 201
    order = order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    token = anon.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    path = f"/orders/{order['order_handle']}/candidate_workers"
    found = answers("candidate_workers", anon.get(path, headers=bearer, params={"limit": 10}))
    assert {c["worker_handle"] for c in found["candidate_workers"]} >= {"cand-a", "cand-b"}
    fails("candidate_workers", anon.get("/orders/ghost/candidate_workers", headers=bearer),
          404, "HTTPError")
    fails("candidate_workers", anon.get(path, headers=bearer, params={"limit": "many"}), 422,
          "ValidationError")
    fails("candidate_workers", anon.get(path), 401, "HTTPError")


def test_trigger_re_runs_a_plan(api: TestClient, db: Database, settings: Settings) -> None:
    """``POST /orders/plans/{id}/trigger`` answers the planning handle of the plan; an
    unknown plan is a 404 HTTPError."""
    add_worker(api)
    day = tomorrow()
    plan_id = post_plan(api, [day_order(day, 13.40, 52.50)])
    run_jobs(db, settings)
    handle = answers("trigger_plan", api.post(f"/orders/plans/{plan_id}/trigger", json={}))
    assert handle["plan"]["id"] == plan_id
    assert handle["plan"]["href"] == f"/orders/plans/{plan_id}"
    run_jobs(db, settings)
    assert api.get(f"/orders/plans/{plan_id}").json()["status"] == "completed"
    fails("trigger_plan", api.post("/orders/plans/nope/trigger", json={}), 404, "HTTPError")
