"""Small hand-made problems for the optimizer tests: points on a line, one metre per second."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routekeeper.planning.optimizer import Job, Objective, Problem, Vehicle


def line_matrix(positions_m: Sequence[int]) -> np.ndarray:
    """Distances between points on a line; used as both metres and seconds."""
    xs = np.asarray(positions_m, dtype=np.int64)
    return np.abs(xs[:, None] - xs[None, :])


def line_problem(
    positions_m: Sequence[int],
    jobs: Sequence[Job],
    vehicles: Sequence[Vehicle],
    objective: Objective = Objective.MINIMISE_DISTANCE,
) -> Problem:
    """A problem whose locations lie on a line at the given positions."""
    matrix = line_matrix(positions_m)
    return Problem(
        distance_m=matrix,
        duration_s=matrix,
        jobs=tuple(jobs),
        vehicles=tuple(vehicles),
        objective=objective,
        locations=tuple((float(x), 0.0) for x in positions_m),
    )
