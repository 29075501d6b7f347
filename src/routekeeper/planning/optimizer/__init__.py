"""Route optimisation: the solver boundary (Problem in, Solution out) on top of PyVRP.

Imports numpy and pyvrp only: no database or web code may be imported here.
"""

from __future__ import annotations

from routekeeper.planning.optimizer.check import check
from routekeeper.planning.optimizer.diagnose import Fleet, diagnose, fleet
from routekeeper.planning.optimizer.model import (
    MAX_TIME_S,
    UNLIMITED_CAPACITY,
    Break,
    Job,
    Objective,
    Priority,
    Problem,
    Route,
    Solution,
    Stop,
    StopKind,
    Vehicle,
)
from routekeeper.planning.optimizer.reasons import (
    ALL_REASONS,
    DROPPED_FOR_PLAN,
    EXCEEDS_CAPACITY,
    EXCEEDS_MAX_DISTANCE,
    EXCEEDS_SHIFT_END,
    NO_SCHEDULE_OVERLAP,
    NO_SKILLED_WORKER,
    NO_WORKER,
    UNREACHABLE_BEFORE_LATE,
)
from routekeeper.planning.optimizer.solver import solve

__all__ = [
    "ALL_REASONS",
    "DROPPED_FOR_PLAN",
    "EXCEEDS_CAPACITY",
    "EXCEEDS_MAX_DISTANCE",
    "EXCEEDS_SHIFT_END",
    "MAX_TIME_S",
    "NO_SCHEDULE_OVERLAP",
    "NO_SKILLED_WORKER",
    "NO_WORKER",
    "UNLIMITED_CAPACITY",
    "UNREACHABLE_BEFORE_LATE",
    "Break",
    "Fleet",
    "Job",
    "Objective",
    "Priority",
    "Problem",
    "Route",
    "Solution",
    "Stop",
    "StopKind",
    "Vehicle",
    "check",
    "diagnose",
    "fleet",
    "solve",
]
