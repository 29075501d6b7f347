"""Plan a Solomon-format instance through the planning service the API uses.

Each instance becomes a fresh account with one ops group (UTC, start at the worker's home,
return to it, minimise distance), one worker per vehicle (home at the depot, the
instance's capacity, no schedule: the whole day) and one order per customer, all created
through the HTTP API (in-process ASGI client, the same routers and services as
``routekeeper serve``). ``POST /orders/`` in scheduled mode queues the ``planning.solve``
job, which a job runner built like the worker's runs here; the plan is then read back with
``GET /orders/plans/{plan_id}``.

Coordinates are stored as longitude x / 10, latitude y / 10. The runner's travel model is
the product's own OSRM client (``routing.osrm_url``, default settings otherwise) talking to
an OSRM-compatible HTTP server in a process of its own (travel_server.py), which turns the
points back into instance coordinates and answers the DIMACS distance (Euclidean, truncated
to one decimal, times ten) as both metres and seconds: the setup a user with osrm-routed
has. Every time of the instance (already times ten) is used as seconds after midnight UTC
of the plan's day.

One adjustment keeps the instance exact: the depot's due time is the worker's end of shift,
but shifts are whole minutes (``HH:MM``), and a whole-day shift drops that bound. It is
enforced instead on each customer as the latest start that still lets a vehicle return in
time (``min(due_i, due_0 - service_i - t_i0)``), the classic tightening of the depot's
window onto customers (the last customer of a route is the one that bounds the return,
and every service time exceeds the rounding error of the truncated matrix, so no feasible
solution is cut off). On the Solomon set the depot's due time never binds (the tightening
changes nothing); on Homberger 200 it binds by a few units on most instances. Every plan
is re-checked against the untouched instance by the benchmark.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from solomon import SolomonInstance, dimacs_matrix
from starlette.testclient import TestClient
from travel_server import TravelServer

from routekeeper.accounts.service import create_account
from routekeeper.app import create_app
from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.planning.optimizer import solver as optimizer_solver
from routekeeper.planning.optimizer.search import Limits, warm_up
from routekeeper.planning.tasks import solver_processes
from routekeeper.settings import DatabaseSettings, JobSettings, Settings
from routekeeper.worker import build_runner

# Instance coordinate x is stored as longitude x / COORDINATE_SCALE (likewise y, latitude).
COORDINATE_SCALE = 10.0
OPS_GROUP = "vrptw"
# The plan's day: any future day works; a fixed one keeps runs comparable.
PLAN_DAY = date(2027, 1, 4)

Routes = list[list[int]]


def _point(instance: SolomonInstance, node: int) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [instance.x[node] / COORDINATE_SCALE,
                                             instance.y[node] / COORDINATE_SCALE]}


def _stamp(seconds: int) -> str:
    moment = datetime.combine(PLAN_DAY, datetime.min.time(), tzinfo=UTC)
    return (moment + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_starts(instance: SolomonInstance) -> list[int]:
    """Each customer's due time, tightened so that a vehicle can still return to the depot."""
    matrix = dimacs_matrix(instance)
    return [
        min(instance.due[i], instance.due[0] - instance.service[i] - int(matrix[i, 0]))
        for i in range(len(instance.x))
    ]


def order_bodies(instance: SolomonInstance) -> list[dict[str, Any]]:
    """One order per customer, handle ``c<number>``."""
    late = latest_starts(instance)
    return [
        {
            "order_handle": f"c{i}",
            "destination": {"geometry": _point(instance, i), "address": f"Customer {i}"},
            "scheduled_after": _stamp(instance.ready[i]),
            "scheduled_at": _stamp(late[i]),
            "expected_service_time": instance.service[i],
            "capacity_used": instance.demand[i],
        }
        for i in range(1, len(instance.x))
    ]


def worker_bodies(instance: SolomonInstance) -> list[dict[str, Any]]:
    """One worker per vehicle, at home in the depot, available all day."""
    return [
        {
            "worker_handle": f"v{k:03d}",
            "name": f"Vehicle {k}",
            "ops_group_handle": OPS_GROUP,
            "capacity": instance.capacity,
            "product_types": [],
            "schedule": [],
            "home": {"geometry": _point(instance, 0), "address": "Depot"},
        }
        for k in range(instance.num_vehicles)
    ]


def _expect(response: Any, status: int, what: str) -> dict[str, Any]:
    if response.status_code not in (status, 200):
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


class _SearchClock:
    """Notes when the optimizer's search starts and the budget it gets (wraps its ``search``)."""

    def __init__(self) -> None:
        self.started = float("nan")
        self.budget_s = float("nan")
        self._search = optimizer_solver.search

    def __call__(self, translation: Any, seed: int, processes: int, limits: Limits) -> Any:
        self.started = time.perf_counter()
        self.budget_s = limits.deadline - time.time()
        return self._search(translation, seed, processes, limits)


class ServicePath:
    """The ``routekeeper-service`` solver of bench/planner.py."""

    def __init__(self, processes: int, database_url: str | None = None) -> None:
        self.processes = processes
        self._workdir = tempfile.TemporaryDirectory(prefix="rk-planner-")
        url = database_url or f"sqlite:///{Path(self._workdir.name) / 'bench.db'}"
        migrate.upgrade(url)
        self.travel_server = TravelServer()
        base = Settings(_env_file=None)
        self.settings = base.model_copy(update={
            "secret_key": secrets.token_urlsafe(32),
            "configured_public_url": "http://bench",
            "database": DatabaseSettings(url=url),
            "jobs": JobSettings(run_in_api=False),
            "routing": base.routing.model_copy(update={"osrm_url": self.travel_server.url}),
            # One client creating a fleet of 250 workers is not what the rate limits are for.
            "limits": base.limits.model_copy(update={"enabled": False}),
        })
        self.clock = _SearchClock()
        optimizer_solver.search = self.clock  # type: ignore[assignment]
        self.db = Database(self.settings.database)
        self.app = create_app(self.settings, run_worker=False)
        # A long-running worker starts its solver processes once, when it starts.
        warm_up(solver_processes(self.settings.model_copy(update={
            "planning": self.settings.planning.model_copy(update={"processes": processes}),
        })))
        # Wall time of the last planning job (reading inputs, solving, writing the plan), the
        # time from its start to the search's, and the search's budget.
        self.last_run_s = float("nan")
        self.last_pre_search_s = float("nan")
        self.last_search_budget_s = float("nan")

    def close(self) -> None:
        """Release the database, the travel server and the temporary directory."""
        optimizer_solver.search = self.clock._search
        self.travel_server.close()
        self.db.dispose()
        self._workdir.cleanup()

    def __call__(self, instance: SolomonInstance, budget_s: float, seed: int) -> Routes:
        """Create the instance through the API, run the planning job, return customer routes."""
        with self.db.write() as session:
            creds = create_account(session, name=f"bench {instance.name}")
        settings = self.settings.model_copy(update={
            "planning": self.settings.planning.model_copy(update={
                "time_budget_s": budget_s, "seed": seed, "processes": self.processes,
            }),
        })
        runner = build_runner(self.db, settings)
        with TestClient(self.app) as client:
            client.auth = (creds.account_id, creds.secret_key)
            _expect(client.post("/workers/ops-groups/", json={
                "ops_group_handle": OPS_GROUP, "name": instance.name, "timezone": "UTC",
                "route_start_location": "driver_home",
                "route_completion_type": "return_to_start_location",
                "objective_fn": "minimise_distance",
            }), 201, "POST /workers/ops-groups/")
            for body in worker_bodies(instance):
                _expect(client.post("/workers/", json=body), 201, "POST /workers/")
            created = _expect(client.post("/orders/", json={
                "orders": order_bodies(instance), "plan_mode": "scheduled",
                "ops_group_handle": OPS_GROUP,
            }), 201, "POST /orders/")
            plan_id = created["plan"]["id"]
            self.clock.started = self.clock.budget_s = float("nan")
            started = time.perf_counter()
            runner.run_until_idle()
            self.last_run_s = time.perf_counter() - started
            self.last_pre_search_s = self.clock.started - started
            self.last_search_budget_s = self.clock.budget_s
            plan = _expect(client.get(f"/orders/plans/{plan_id}"), 200, "GET /orders/plans/{id}")
        if plan["status"] != "completed":
            raise RuntimeError(f"plan {plan_id} ended {plan['status']}: {plan['failure_reason']}")
        return [
            [int(order["order_handle"][1:]) for order in route["orders"]]
            for route in plan["routes"]
        ]
