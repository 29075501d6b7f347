"""Problem validation rejects inconsistent input with ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from routekeeper.planning.optimizer import Job, Problem, Vehicle

MATRIX = np.array([[0, 5], [5, 0]])


def build(jobs: list[Job], vehicles: list[Vehicle], matrix: object = MATRIX) -> Problem:
    """A two-location problem from the given parts."""
    return Problem(matrix, matrix, tuple(jobs), tuple(vehicles))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("jobs", "vehicles"),
    [
        ([Job(id="a", location=1), Job(id="a", location=1)], []),
        ([Job(id="a", location=2)], []),
        ([Job(id="a", location=1, early_s=10, late_s=5)], []),
        ([Job(id="a", location=1, pick_job="zzz")], []),
        ([Job(id="a", location=1, pick_job="a")], []),
        ([], [Vehicle(id="v", start_location=0, fixed_jobs=("nope",))]),
        ([], [Vehicle(id="v", start_location=0, start_s=10, end_s=5)]),
        ([], [Vehicle(id="v", start_location=0), Vehicle(id="v", start_location=0)]),
        (
            [Job(id="p", location=1), Job(id="d", location=1, pick_job="p")],
            [Vehicle(id="v", start_location=0, fixed_jobs=("d",))],
        ),
    ],
)
def test_invalid_problems_are_rejected(jobs: list[Job], vehicles: list[Vehicle]) -> None:
    """Duplicates, bad indices, bad windows, bad pairs and bad prefixes raise ValueError."""
    with pytest.raises(ValueError):
        build(jobs, vehicles)


def test_matrices_must_be_square_and_non_negative() -> None:
    """A non-square or negative matrix is refused."""
    with pytest.raises(ValueError):
        build([], [], np.zeros((2, 3)))
    with pytest.raises(ValueError):
        build([], [], np.array([[0, -1], [1, 0]]))


def test_problem_keeps_a_read_only_copy() -> None:
    """Changing the caller's array later does not change the problem."""
    source = MATRIX.copy()
    problem = build([], [], source)
    source[0, 1] = 99
    assert problem.distance_m[0, 1] == 5
    assert not problem.distance_m.flags.writeable


def test_package_imports_no_database_or_web_code() -> None:
    """Importing the optimizer loads numpy and pyvrp, never database, web or settings code."""
    import subprocess
    import sys

    code = (
        "import sys, routekeeper.planning.optimizer as o; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'fastapi', 'starlette', 'pydantic', 'httpx', 'psycopg', 'alembic') "
        "or m.startswith(('routekeeper.db', 'routekeeper.settings', 'routekeeper.travel'))]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
