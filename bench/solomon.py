"""Solomon-format VRPTW instances in the DIMACS integer convention, and their best-known values.

DIMACS convention: every Euclidean distance is truncated to one decimal and stored times ten
as an integer; travel time equals distance; ready times, due dates and service times are
scaled by ten as well so that all quantities share one integer unit.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from routekeeper.planning.optimizer import Job, Objective, Problem, Vehicle

DEFAULT_ROOT = Path("/work/shared/benchmarks/vrptw")
SCALE = 10  # DIMACS: one decimal kept, stored as an integer


@dataclass(frozen=True, slots=True)
class SolomonInstance:
    """One instance as read from disk, already scaled to DIMACS integers (row 0 is the depot)."""

    name: str
    num_vehicles: int
    capacity: int
    x: tuple[int, ...]
    y: tuple[int, ...]
    demand: tuple[int, ...]
    ready: tuple[int, ...]
    due: tuple[int, ...]
    service: tuple[int, ...]

    @property
    def num_customers(self) -> int:
        """Number of customers (nodes other than the depot)."""
        return len(self.x) - 1

    @property
    def problem_class(self) -> str:
        """Solomon class: C1, C2, R1, R2, RC1 or RC2 (Homberger names map the same way)."""
        head = self.name.split("_")[0].upper()
        if head.startswith("RC"):
            return "RC" + head[2]
        return head[0] + head[1]


def read_instance(path: Path) -> SolomonInstance:
    """Read one Solomon text file and scale its times by ten (DIMACS convention)."""
    lines = [line.split() for line in path.read_text().splitlines()]
    name = lines[0][0]
    fleet_row = next(i for i, parts in enumerate(lines) if parts[:1] == ["NUMBER"]) + 1
    num_vehicles, capacity = (int(v) for v in lines[fleet_row][:2])
    header_row = next(i for i, parts in enumerate(lines) if parts[:2] == ["CUST", "NO."])
    rows = [
        [int(float(v)) for v in parts]
        for parts in lines[header_row + 1 :]
        if len(parts) == 7
    ]
    cols = list(zip(*rows, strict=True))
    return SolomonInstance(
        name=name,
        num_vehicles=num_vehicles,
        capacity=capacity,
        x=cols[1],
        y=cols[2],
        demand=cols[3],
        ready=tuple(SCALE * v for v in cols[4]),
        due=tuple(SCALE * v for v in cols[5]),
        service=tuple(SCALE * v for v in cols[6]),
    )


def dimacs_matrix(instance: SolomonInstance) -> npt.NDArray[np.int64]:
    """Euclidean distances truncated to one decimal, times ten, as int64."""
    xs = np.asarray(instance.x, dtype=np.float64)
    ys = np.asarray(instance.y, dtype=np.float64)
    dist = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :])
    return np.floor(SCALE * dist + 1e-9).astype(np.int64)


def to_problem(instance: SolomonInstance) -> Problem:
    """Build a routekeeper Problem: one vehicle per fleet slot at the depot, returning to it."""
    matrix = dimacs_matrix(instance)
    jobs = tuple(
        Job(
            id=str(i),
            location=i,
            service_s=instance.service[i],
            early_s=instance.ready[i],
            late_s=instance.due[i],
            demand=instance.demand[i],
        )
        for i in range(1, len(instance.x))
    )
    vehicles = tuple(
        Vehicle(
            id=f"v{k}",
            start_location=0,
            end_location=0,
            start_s=instance.ready[0],
            end_s=instance.due[0],
            capacity=instance.capacity,
        )
        for k in range(instance.num_vehicles)
    )
    return Problem(
        distance_m=matrix,
        duration_s=matrix,
        jobs=jobs,
        vehicles=vehicles,
        objective=Objective.MINIMISE_DISTANCE,
        locations=tuple((float(x), float(y)) for x, y in zip(instance.x, instance.y, strict=True)),
    )


@dataclass(frozen=True, slots=True)
class BestKnown:
    """A best-known solution value: route count and distance in instance units (not times ten)."""

    vehicles: int
    distance: float


def read_bks(path: Path) -> dict[str, BestKnown]:
    """Read a BKS table (instance,vehicles,distance,source) keyed by upper-case instance name."""
    with path.open(newline="") as handle:
        return {
            row["instance"].upper(): BestKnown(int(row["vehicles"]), float(row["distance"]))
            for row in csv.DictReader(handle)
        }


def gap_percent(distance: float, best: float) -> float:
    """Relative gap of a distance to the best-known value, in percent."""
    return 100.0 * (distance - best) / best if best > 0 else math.nan
