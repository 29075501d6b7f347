"""The background worker: a job runner with every domain's tasks registered."""

from __future__ import annotations

import importlib

from routekeeper.core.jobs import JobRunner, registry
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.travel import travel_model_from_settings

# Modules that register tasks when imported.
TASK_MODULES: tuple[str, ...] = (
    "routekeeper.core.jobs",
    "routekeeper.exports.tasks",
    "routekeeper.planning.tasks",
    "routekeeper.tracking.tasks",
    "routekeeper.webhooks.tasks",
)


def load_tasks() -> None:
    """Import every module that registers tasks."""
    for name in TASK_MODULES:
        importlib.import_module(name)


def build_runner(db: Database, settings: Settings) -> JobRunner:
    """A job runner over ``db`` with all tasks loaded."""
    load_tasks()
    runner = JobRunner(db, settings.jobs, registry)
    runner.context["settings"] = settings
    runner.context["travel"] = travel_model_from_settings(settings.routing)
    return runner
