"""The background worker: a job runner with every domain's tasks registered."""

from __future__ import annotations

import importlib
import threading

from routekeeper.core.jobs import JobRunner, registry
from routekeeper.db.engine import Database
from routekeeper.geocoding.service import geocoder_from_settings
from routekeeper.settings import Settings
from routekeeper.travel import travel_model_from_settings
from routekeeper.travel.base import TravelModel

# Modules that register tasks when imported.
TASK_MODULES: tuple[str, ...] = (
    "routekeeper.core.jobs",
    "routekeeper.exports.tasks",
    "routekeeper.ops.tasks",
    "routekeeper.orders.regions",
    "routekeeper.planning.tasks",
    "routekeeper.tracking.tasks",
    "routekeeper.webhooks.tasks",
)


def load_tasks() -> None:
    """Import every module that registers tasks."""
    for name in TASK_MODULES:
        importlib.import_module(name)


def build_runner(db: Database, settings: Settings,
                 travel: TravelModel | None = None) -> JobRunner:
    """A job runner over ``db`` with all tasks loaded (sharing the process's travel model)."""
    load_tasks()
    runner = JobRunner(db, settings.jobs, registry)
    runner.context["settings"] = settings
    runner.context["travel"] = travel or travel_model_from_settings(settings.routing)
    runner.context["geocoder"] = geocoder_from_settings(settings.geocoding)
    return runner


def warm_up_solver(settings: Settings) -> None:
    """Start the planner's solver processes in the background (a long-lived worker's start)."""
    from routekeeper.planning.optimizer.search import warm_up
    from routekeeper.planning.tasks import solver_processes

    threading.Thread(target=warm_up, args=(solver_processes(settings),),
                     name="solver-warm-up", daemon=True).start()


def start_runner(db: Database, settings: Settings, threads: int | None = None,
                 travel: TravelModel | None = None) -> JobRunner:
    """Build a runner, start its threads and the tracking processor's, and get the solver
    processes ready."""
    from routekeeper.tracking.processor import Processor

    runner = build_runner(db, settings, travel)
    runner.start(threads)
    processor = Processor(db, settings, runner.context["travel"])
    processor.start()
    runner.companions.append(processor)
    warm_up_solver(settings)
    return runner
