"""The solver boundary: frozen, integer-unit descriptions of a planning problem and its solution.

Units are in the names: metres (``_m``), seconds from one reference instant (``_s``). Location
fields are indices into ``Problem.locations`` and into both matrices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# Far enough in the future to mean "no bound" while staying exact in int64 arithmetic.
MAX_TIME_S = 1 << 40
# A capacity that no realistic sum of demands reaches.
UNLIMITED_CAPACITY = 1 << 40

Matrix = npt.NDArray[np.int64]

# The vocabularies below are StrEnums whose values are their members' names in lower case.


# What the optimiser minimises over all routes. BALANCE_TIME: total time, plus a surcharge on
# every second a route runs beyond the fleet's average (see translate.BALANCE_WEIGHT): work
# moves from long routes to short ones.
Objective = StrEnum("Objective", "MINIMISE_TIME MINIMISE_DISTANCE BALANCE_TIME")


# What a route stop is: serving a job, a worker's break, or reloading at a depot.
StopKind = StrEnum("StopKind", "JOB BREAK RELOAD")


# How reluctantly a job is left unassigned when not everything fits.
Priority = StrEnum("Priority", "LOW MEDIUM HIGH")


@dataclass(frozen=True, slots=True)
class Job:
    """One order to serve: where, for how long, when service may start, and what it needs.

    ``early_s``..``late_s`` bound the *start* of service. ``windows`` replaces them with
    several alternative windows (sorted, disjoint); service starts in the first one it can.
    ``lateness_cost_per_min`` makes the (last) window soft: service may start after it closes,
    at this many objective units per minute late; None keeps it hard. A drop job names its
    pick job in ``pick_job``: both must then be served by the same vehicle, the pick first;
    the pair carries the pick's ``demand`` from pick to drop. An unpaired job is a delivery:
    its demand is on board from the start of the route until it is served.
    """

    id: str
    location: int
    service_s: int = 0
    early_s: int = 0
    late_s: int = MAX_TIME_S
    demand: int = 1
    skills: frozenset[str] = frozenset()
    priority: Priority = Priority.MEDIUM
    pick_job: str | None = None
    windows: tuple[tuple[int, int], ...] = ()
    lateness_cost_per_min: int | None = None
    # Only this vehicle may serve the job (a re-plan that keeps orders with their worker).
    vehicle: str | None = None

    @property
    def time_windows(self) -> tuple[tuple[int, int], ...]:
        """The windows service may start in: ``windows``, else ``(early_s, late_s)``."""
        return self.windows or ((self.early_s, self.late_s),)

    @property
    def opens_s(self) -> int:
        """When the first window opens."""
        return self.time_windows[0][0]

    @property
    def closes_s(self) -> int:
        """When the last window closes (lateness is measured from here)."""
        return self.time_windows[-1][1]

    @property
    def hard_late_s(self) -> int:
        """The latest start allowed at all: the last close, or no bound for a soft window."""
        return MAX_TIME_S if self.lateness_cost_per_min is not None else self.closes_s


@dataclass(frozen=True, slots=True)
class Break:
    """A break in a worker's day: ``duration_s`` long, starting no earlier than ``early_s``
    and over by ``late_s``, taken wherever the worker is at the time."""

    id: str
    early_s: int
    late_s: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class Vehicle:
    """One worker: where the route starts and ends, the shift, and what the vehicle can do.

    ``end_location`` None means the route ends at its last job. ``fixed_jobs`` are jobs already
    done or under way: they stay, in this order, at the start of this vehicle's route.
    ``reload_locations``: depots where the vehicle may reload (at most ``max_reloads`` times,
    None for no limit, ``reload_s`` each); deliveries are loaded per trip. ``breaks`` are
    taken where they fit on the route.
    """

    id: str
    start_location: int
    end_location: int | None = None
    start_s: int = 0
    end_s: int = MAX_TIME_S
    capacity: int = UNLIMITED_CAPACITY
    skills: frozenset[str] = frozenset()
    max_distance_m: int | None = None
    fixed_jobs: tuple[str, ...] = ()
    breaks: tuple[Break, ...] = ()
    reload_locations: tuple[int, ...] = ()
    max_reloads: int | None = None
    reload_s: int = 0


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything the optimiser needs; validated on construction (raises ValueError)."""

    distance_m: Matrix
    duration_s: Matrix
    jobs: tuple[Job, ...]
    vehicles: tuple[Vehicle, ...]
    objective: Objective = Objective.MINIMISE_TIME
    # Optional (x, y) or (lon, lat) per location; only informative for the optimiser.
    locations: tuple[tuple[float, float], ...] = ()
    _job_index: dict[str, int] = field(init=False, repr=False)
    _drop_of: dict[str, str] = field(init=False, repr=False)
    _fixed_on: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Freeze copies of the inputs and validate them."""
        distance = _frozen_matrix(self.distance_m, "distance_m")
        duration = _frozen_matrix(self.duration_s, "duration_s")
        if distance.shape != duration.shape:
            raise ValueError("distance_m and duration_s must have the same shape")
        object.__setattr__(self, "distance_m", distance)
        object.__setattr__(self, "duration_s", duration)
        object.__setattr__(self, "jobs", tuple(self.jobs))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "locations", tuple(self.locations))
        object.__setattr__(self, "objective", Objective(self.objective))
        if self.locations and len(self.locations) != distance.shape[0]:
            raise ValueError("locations and the matrices disagree on the number of locations")
        object.__setattr__(self, "_job_index", {job.id: i for i, job in enumerate(self.jobs)})
        if len(self._job_index) != len(self.jobs):
            raise ValueError("job ids must be unique")
        if len({vehicle.id for vehicle in self.vehicles}) != len(self.vehicles):
            raise ValueError("vehicle ids must be unique")
        self._validate_jobs()
        self._validate_vehicles()

    @property
    def num_locations(self) -> int:
        """Number of locations the matrices cover."""
        return int(self.distance_m.shape[0])

    def job_index(self, job_id: str) -> int:
        """Position of a job in ``jobs`` (KeyError when unknown)."""
        return self._job_index[job_id]

    def job(self, job_id: str) -> Job:
        """The job with this id (KeyError when unknown)."""
        return self.jobs[self._job_index[job_id]]

    def drop_of(self, pick_id: str) -> str | None:
        """The id of the drop job paired with this pick job, if any."""
        return self._drop_of.get(pick_id)

    def partner_of(self, job_id: str) -> str | None:
        """The other job of a pick/drop pair, or None for an unpaired job."""
        pick = self.job(job_id).pick_job
        return pick if pick is not None else self._drop_of.get(job_id)

    def fixed_vehicle(self, job_id: str) -> str | None:
        """The id of the vehicle whose fixed prefix holds this job, if any."""
        return self._fixed_on.get(job_id)

    def _validate_jobs(self) -> None:
        """Check job fields and pick/drop references."""
        drop_of: dict[str, str] = {}
        for job in self.jobs:
            self._check_location(job.location, f"job {job.id!r}")
            if job.service_s < 0 or job.demand < 0:
                raise ValueError(f"job {job.id!r}: service_s and demand must be >= 0")
            if job.early_s > job.late_s:
                raise ValueError(f"job {job.id!r}: early_s must not exceed late_s")
            previous_late = -1
            for early, late in job.windows:
                if early > late or early <= previous_late:
                    raise ValueError(f"job {job.id!r}: windows must be sorted and disjoint")
                previous_late = late
            if job.lateness_cost_per_min is not None and job.lateness_cost_per_min < 0:
                raise ValueError(f"job {job.id!r}: lateness_cost_per_min must be >= 0")
            if job.pick_job is None:
                continue
            pick = self._job_index.get(job.pick_job)
            if pick is None or job.pick_job == job.id:
                raise ValueError(f"job {job.id!r}: pick_job {job.pick_job!r} is not another job")
            if self.jobs[pick].pick_job is not None:
                raise ValueError(f"job {job.id!r}: its pick job is itself a drop")
            if job.pick_job in drop_of:
                raise ValueError(f"pick job {job.pick_job!r} is named by more than one drop")
            drop_of[job.pick_job] = job.id
        object.__setattr__(self, "_drop_of", drop_of)

    def _validate_vehicles(self) -> None:
        """Check vehicle fields and that fixed prefixes are consistent with pairing."""
        fixed_on: dict[str, str] = {}
        for vehicle in self.vehicles:
            self._check_location(vehicle.start_location, f"vehicle {vehicle.id!r}")
            if vehicle.end_location is not None:
                self._check_location(vehicle.end_location, f"vehicle {vehicle.id!r}")
            if vehicle.start_s > vehicle.end_s:
                raise ValueError(f"vehicle {vehicle.id!r}: start_s must not exceed end_s")
            if vehicle.capacity < 0:
                raise ValueError(f"vehicle {vehicle.id!r}: capacity must be >= 0")
            if vehicle.max_distance_m is not None and vehicle.max_distance_m < 0:
                raise ValueError(f"vehicle {vehicle.id!r}: max_distance_m must be >= 0")
            self._validate_day(vehicle)
            for position, job_id in enumerate(vehicle.fixed_jobs):
                if job_id not in self._job_index:
                    raise ValueError(f"vehicle {vehicle.id!r}: unknown fixed job {job_id!r}")
                if job_id in fixed_on:
                    raise ValueError(f"job {job_id!r} is fixed on more than one route")
                fixed_on[job_id] = vehicle.id
                # A fixed drop needs its pick fixed before it on the same route: nothing can
                # be inserted before a fixed prefix.
                pick = self.jobs[self._job_index[job_id]].pick_job
                if pick is not None and pick not in vehicle.fixed_jobs[:position]:
                    raise ValueError(
                        f"vehicle {vehicle.id!r}: fixed drop {job_id!r} needs its pick fixed "
                        "before it on the same route"
                    )
        object.__setattr__(self, "_fixed_on", fixed_on)
        ids = {vehicle.id for vehicle in self.vehicles}
        for job in self.jobs:
            if job.vehicle is not None and job.vehicle not in ids:
                raise ValueError(f"job {job.id!r}: unknown vehicle {job.vehicle!r}")
            pinned = self._fixed_on.get(job.id)
            if job.vehicle is not None and pinned is not None and pinned != job.vehicle:
                raise ValueError(f"job {job.id!r} is fixed on another vehicle than its own")

    def _validate_day(self, vehicle: Vehicle) -> None:
        """Check a vehicle's breaks and reload depots."""
        name = f"vehicle {vehicle.id!r}"
        for location in vehicle.reload_locations:
            self._check_location(location, name)
        if vehicle.reload_s < 0 or (vehicle.max_reloads is not None and vehicle.max_reloads < 0):
            raise ValueError(f"{name}: reload_s and max_reloads must be >= 0")
        if len({b.id for b in vehicle.breaks}) != len(vehicle.breaks):
            raise ValueError(f"{name}: break ids must be unique")
        for pause in vehicle.breaks:
            if pause.duration_s < 0 or pause.early_s + pause.duration_s > pause.late_s:
                raise ValueError(f"{name}: break {pause.id!r} does not fit its window")

    def _check_location(self, location: int, owner: str) -> None:
        """Raise when a location index is outside the matrices."""
        if not 0 <= location < self.num_locations:
            raise ValueError(f"{owner}: location {location} is out of range")


def _frozen_matrix(values: npt.ArrayLike, name: str) -> Matrix:
    """A read-only square int64 copy of a matrix with no negative entries."""
    matrix = np.array(values, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square matrix")
    if matrix.size and int(matrix.min()) < 0:
        raise ValueError(f"{name} must not contain negative values")
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop on a route; cumulative distance and duration are at arrival.

    ``job_id`` is the job served, the break taken (``kind`` break), or empty for a reload.
    ``lateness_s`` is how long after its last window closed a job's service started.
    """

    job_id: str
    location: int
    arrival_s: int
    start_s: int
    departure_s: int
    distance_m: int
    duration_s: int
    kind: StopKind = StopKind.JOB
    lateness_s: int = 0


@dataclass(frozen=True, slots=True)
class Route:
    """One vehicle's ordered stops, leaving its start at ``start_s`` and done at ``end_s``."""

    vehicle_id: str
    stops: tuple[Stop, ...]
    start_s: int
    end_s: int
    distance_m: int
    duration_s: int

    @property
    def job_ids(self) -> tuple[str, ...]:
        """The served job ids in visiting order."""
        return tuple(stop.job_id for stop in self.stops if stop.kind is StopKind.JOB)


@dataclass(frozen=True)
class Solution:
    """Routes that carry at least one job, and the reason for every job left out."""

    routes: tuple[Route, ...]
    unassigned: Mapping[str, str]

    @property
    def total_distance_m(self) -> int:
        """Distance summed over all routes."""
        return sum(route.distance_m for route in self.routes)

    @property
    def total_duration_s(self) -> int:
        """Duration (end minus start) summed over all routes."""
        return sum(route.duration_s for route in self.routes)

    def route_of(self, vehicle_id: str) -> Route | None:
        """The route driven by this vehicle, if it has one."""
        return next((route for route in self.routes if route.vehicle_id == vehicle_id), None)
