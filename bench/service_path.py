"""Plan a Solomon-format instance through the planning service the API uses.

Each instance becomes a fresh account with one ops group (UTC, start at the worker's home,
return to it, minimise distance), one worker per vehicle (home at the depot, the
instance's capacity, no schedule: the whole day) and one order per customer, all created
through the HTTP API (in-process ASGI client, the same routers and services as
``routekeeper serve``). ``POST /orders/`` in scheduled mode queues the ``planning.solve``
job, which a job runner built like the worker's runs here; the plan is then read back with
``GET /orders/plans/{plan_id}``.

Coordinates are stored as longitude x / 10, latitude y / 10, and the travel model injected
into the runner turns them back into instance coordinates and returns the DIMACS distance
(Euclidean, truncated to one decimal, times ten) as both metres and seconds. Every time of
the instance (already times ten) is used as seconds after midnight UTC of the plan's day.

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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from solomon import SCALE, SolomonInstance, dimacs_matrix
from starlette.testclient import TestClient

from routekeeper.accounts.service import create_account
from routekeeper.app import create_app
from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.planning.optimizer.search import warm_up
from routekeeper.planning.tasks import solver_processes
from routekeeper.settings import DatabaseSettings, JobSettings, Settings
from routekeeper.travel.base import Leg, LonLat, TravelMatrix, lonlat_array
from routekeeper.worker import build_runner

# Instance coordinate x is stored as longitude x / COORDINATE_SCALE (likewise y, latitude).
COORDINATE_SCALE = 10.0
OPS_GROUP = "vrptw"
# The plan's day: any future day works; a fixed one keeps runs comparable.
PLAN_DAY = date(2027, 1, 4)

Routes = list[list[int]]


class DimacsTravel:
    """Euclidean travel between stored points in the DIMACS integer convention."""

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Distance = duration = floor(10 x Euclidean distance) of the instance coordinates."""
        a = np.rint(lonlat_array(origins) * COORDINATE_SCALE)
        b = np.rint(lonlat_array(destinations) * COORDINATE_SCALE)
        euclid = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
        units = np.floor(SCALE * euclid + 1e-9).astype(np.int64)
        return TravelMatrix(distance_m=units, duration_s=units.copy())

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """One straight leg."""
        units = int(self.matrix([origin], [destination]).distance_m[0, 0])
        return Leg(distance_m=units, duration_s=units, geometry=[origin, destination])


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


class ServicePath:
    """The ``routekeeper-service`` solver of bench/planner.py."""

    def __init__(self, processes: int, database_url: str | None = None) -> None:
        self.processes = processes
        self._workdir = tempfile.TemporaryDirectory(prefix="rk-planner-")
        url = database_url or f"sqlite:///{Path(self._workdir.name) / 'bench.db'}"
        migrate.upgrade(url)
        base = Settings(_env_file=None)
        self.settings = base.model_copy(update={
            "secret_key": secrets.token_urlsafe(32),
            "configured_public_url": "http://bench",
            "database": DatabaseSettings(url=url),
            "jobs": JobSettings(run_in_api=False),
        })
        self.db = Database(self.settings.database)
        self.app = create_app(self.settings, run_worker=False)
        # A long-running worker starts its solver processes once, when it starts.
        warm_up(solver_processes(self.settings.model_copy(update={
            "planning": self.settings.planning.model_copy(update={"processes": processes}),
        })))
        # Wall time of the last planning job (reading inputs, solving, writing the plan).
        self.last_run_s = float("nan")

    def close(self) -> None:
        """Release the database and the temporary directory."""
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
        runner.context["travel"] = DimacsTravel()
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
            started = time.perf_counter()
            runner.run_until_idle()
            self.last_run_s = time.perf_counter() - started
            plan = _expect(client.get(f"/orders/plans/{plan_id}"), 200, "GET /orders/plans/{id}")
        if plan["status"] != "completed":
            raise RuntimeError(f"plan {plan_id} ended {plan['status']}: {plan['failure_reason']}")
        return [
            [int(order["order_handle"][1:]) for order in route["orders"]]
            for route in plan["routes"]
        ]
