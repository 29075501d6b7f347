"""A job worker process for the durability test; the test kills it with SIGKILL."""

from __future__ import annotations

import time

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.webhooks import tasks as _tasks  # noqa: F401 - registers the tasks


def main() -> None:
    """Run due jobs forever with settings from the environment."""
    settings = Settings()
    runner = JobRunner(Database(settings.database), settings.jobs)
    runner.context["settings"] = settings
    while True:
        if not runner.run_one():
            time.sleep(0.05)


if __name__ == "__main__":
    main()
