"""Turning a Problem into PyVRP ProblemData, and PyVRP routes back into job indices.

Modelling choices (see docs/optimizer.md):

* Every job gets its own PyVRP location (a copy of its matrix row and column), so that arcs
  into one job can be forbidden without touching another job at the same place.
* Skills and "this drop belongs to that vehicle" become routing profiles: a copy of the matrix
  in which arcs into jobs the vehicle may not serve cost ``forbidden``, which is more than any
  prize, so using them never pays. Profile 0 stays unrestricted because PyVRP derives its
  granular neighbourhoods from it.
* An open route end is a virtual depot that every location reaches at zero cost.
* A vehicle with a fixed prefix starts at its last fixed job, when that job is finished.
* Jobs are optional clients whose prize grows fourfold per priority level; pick/drop pairs
  are PyVRP shipments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyvrp import Client, Depot, Location, ProblemData, Shipment, VehicleType
from pyvrp.constants import MAX_VALUE

from routekeeper.planning.optimizer.diagnose import free_vehicle, unit_demand
from routekeeper.planning.optimizer.model import Job, Objective, Priority, Problem
from routekeeper.planning.optimizer.warm import Availability

INT64_MAX = int(np.iinfo(np.int64).max)
VIRTUAL_END = -1
PRIORITY_LEVEL = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2}
PRIORITY_STEP = 4
# Prizes and penalties multiply inside PyVRP; this cap keeps their products inside int64.
MAX_BASE_PRIZE = 1_000_000
DEFAULT_MAX_PENALTY = 100_000.0


@dataclass(frozen=True, slots=True)
class Unit:
    """Jobs the planner places together: one job, or a pick and its drop."""

    jobs: tuple[int, ...]
    bound_vehicle: int | None = None


@dataclass(frozen=True)
class Translation:
    """PyVRP data for the jobs to plan, with the maps needed to read its routes back."""

    data: ProblemData
    required_data: ProblemData
    client_jobs: tuple[int, ...]
    shipment_jobs: tuple[tuple[int, int], ...]
    type_vehicles: tuple[tuple[int, ...], ...]
    max_prize: int

    @property
    def max_penalty(self) -> float:
        """Penalty cap high enough that no prize can buy a unit of constraint violation."""
        return max(DEFAULT_MAX_PENALTY, 2.0 * self.max_prize)


def job_prize(base: int, job: Job) -> int:
    """The prize for serving a job: ``base`` times four per priority level above low."""
    return int(base * PRIORITY_STEP ** PRIORITY_LEVEL[Priority(job.priority)])


def base_prize(problem: Problem, states: Sequence[Availability], units: Sequence[Unit]) -> int:
    """A prize above the worst marginal cost of serving one job, so jobs drop only if they must.

    Distance: at most two of the longest arcs. Time: also the service and, at worst, waiting
    for the job's window within the shift.
    """
    indices = sorted({i for unit in units for i in unit.jobs})
    jobs = [problem.jobs[i] for i in indices]
    places = sorted({job.location for job in jobs} | {s.location for s in states})
    if problem.objective is Objective.MINIMISE_DISTANCE:
        weighted = problem.distance_m
    else:
        weighted = problem.duration_s
    longest = int(weighted[np.ix_(places, places)].max()) if places else 0
    prize = 2 * longest + 1
    if problem.objective is Objective.MINIMISE_TIME:
        latest_end = max(job.late_s + job.service_s for job in jobs) + longest
        span = max(min(s.vehicle.end_s, latest_end) - s.ready_s for s in states)
        prize += max(job.service_s for job in jobs) + max(0, span)
    return min(prize, MAX_BASE_PRIZE)


class _Builder:
    """Collects PyVRP locations, clients and shipments while remembering where jobs went."""

    def __init__(self, problem: Problem, states: Sequence[Availability]) -> None:
        """Start with one depot per distinct start or end location."""
        self.problem = problem
        self.sources: list[int] = []
        self.depot_of: dict[int, int] = {}
        for state in states:
            self._depot(state.location)
            end = state.vehicle.end_location
            self._depot(VIRTUAL_END if end is None else end)
        self.job_location: dict[int, int] = {}

    def _depot(self, source: int) -> int:
        """The depot index for a problem location, adding it when new."""
        if source not in self.depot_of:
            self.depot_of[source] = len(self.sources)
            self.sources.append(source)
        return self.depot_of[source]

    def place(self, job_index: int) -> int:
        """A fresh PyVRP location for one job."""
        self.job_location[job_index] = len(self.sources)
        self.sources.append(self.problem.jobs[job_index].location)
        return self.job_location[job_index]

    def matrices(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Distance and duration over the PyVRP locations; the virtual end costs nothing."""
        source = np.asarray(self.sources, dtype=np.int64)
        virtual = source == VIRTUAL_END
        source[virtual] = 0
        distance = self.problem.distance_m.take(source, axis=0).take(source, axis=1)
        duration = self.problem.duration_s.take(source, axis=0).take(source, axis=1)
        for matrix in (distance, duration):
            matrix[virtual, :] = 0
            matrix[:, virtual] = 0
        return distance, duration


def _clip(value: int) -> int:
    """A time or amount PyVRP can hold."""
    return min(value, INT64_MAX)


def translate(
    problem: Problem, states: Sequence[Availability], units: Sequence[Unit]
) -> Translation:
    """Build PyVRP data for these units on these (usable) vehicles."""
    builder = _Builder(problem, states)
    base = base_prize(problem, states, units)
    clients: list[tuple[Client, ...]] = []
    shipments: list[tuple[Shipment, ...]] = []
    client_jobs: list[int] = []
    shipment_jobs: list[tuple[int, int]] = []
    bound_to: dict[int, int] = {}
    max_prize = 1
    for unit in units:
        jobs = [problem.jobs[i] for i in unit.jobs]
        prize = sum(job_prize(base, job) for job in jobs)
        max_prize = max(max_prize, prize)
        amount = [unit_demand(problem, list(unit.jobs))]
        if len(jobs) == 1:
            job = jobs[0]
            where = builder.place(unit.jobs[0])
            if unit.bound_vehicle is not None:
                bound_to[where] = unit.bound_vehicle
            clients.append(
                tuple(
                    Client(
                        location=where,
                        delivery=amount,
                        service_duration=job.service_s,
                        tw_early=job.early_s,
                        tw_late=_clip(job.late_s),
                        # A required job's prize would change no decision; zero keeps the
                        # required model identical to PyVRP's plain one.
                        prize=0 if required else prize,
                        required=required,
                        name=job.id,
                    )
                    for required in (False, True)
                )
            )
            client_jobs.append(unit.jobs[0])
        else:
            pick, drop = jobs
            pick_where = builder.place(unit.jobs[0])
            drop_where = builder.place(unit.jobs[1])
            shipments.append(
                tuple(
                    Shipment(
                        pickup_location=pick_where,
                        delivery_location=drop_where,
                        pickup_tw_early=pick.early_s,
                        pickup_tw_late=_clip(pick.late_s),
                        pickup_service_duration=pick.service_s,
                        delivery_tw_early=drop.early_s,
                        delivery_tw_late=_clip(drop.late_s),
                        delivery_service_duration=drop.service_s,
                        amount=amount,
                        prize=0 if required else prize,
                        required=required,
                        name=f"{pick.id}>{drop.id}",
                    )
                    for required in (False, True)
                )
            )
            shipment_jobs.append((unit.jobs[0], unit.jobs[1]))
    distance, duration = builder.matrices()
    longest = int(max(distance.max(), duration.max())) if distance.size else 0
    forbidden = min(MAX_VALUE, 4 * (max_prize + longest) + 1)
    profiles, vehicle_profile = _profiles(problem, states, builder, bound_to)
    vehicle_types, type_vehicles = _vehicle_types(problem, states, builder, vehicle_profile)
    # Coordinates are informative for PyVRP too; the matrices drive the search.
    points = problem.locations or ((0.0, 0.0),) * problem.num_locations
    locations = [Location(x=points[max(s, 0)][0], y=points[max(s, 0)][1]) for s in builder.sources]
    depots = [Depot(location=builder.depot_of[s]) for s in builder.depot_of]
    # PyVRP's stubs spell the matrix type oddly; these are plain int64 arrays.
    distances: list[Any] = [_restrict(distance, p, forbidden) for p in profiles]
    durations: list[Any] = [_restrict(duration, p, forbidden) for p in profiles]
    data = ProblemData(
        locations,
        [c[0] for c in clients],
        depots,
        vehicle_types,
        distances,
        durations,
        shipments=[s[0] for s in shipments],
    )
    required = data.replace(
        clients=[c[1] for c in clients], shipments=[s[1] for s in shipments]
    )
    return Translation(
        data=data,
        required_data=required,
        client_jobs=tuple(client_jobs),
        shipment_jobs=tuple(shipment_jobs),
        type_vehicles=type_vehicles,
        max_prize=max_prize,
    )


def _restrict(
    matrix: npt.NDArray[np.int64], forbidden_columns: frozenset[int], value: int
) -> npt.NDArray[np.int64]:
    """A copy of the matrix where arcs into the forbidden locations cost ``value``."""
    if not forbidden_columns:
        return matrix
    restricted = matrix.copy()
    columns = sorted(forbidden_columns)
    restricted[:, columns] = value
    restricted[columns, columns] = 0  # PyVRP requires a zero diagonal
    return restricted


def _profiles(
    problem: Problem,
    states: Sequence[Availability],
    builder: _Builder,
    bound_to: dict[int, int],
) -> tuple[list[frozenset[int]], list[int]]:
    """Distinct sets of forbidden job locations, and which one each vehicle uses."""
    profiles: list[frozenset[int]] = [frozenset()]
    vehicle_profile: list[int] = []
    skilled = [
        (where, problem.jobs[job_index].skills)
        for job_index, where in builder.job_location.items()
        if problem.jobs[job_index].skills
    ]
    holders = set(bound_to.values())
    banned_for: dict[tuple[frozenset[str], int], frozenset[int]] = {}
    for number, state in enumerate(states):
        skills = state.vehicle.skills
        # Vehicles with the same skills and no drops of their own share one profile.
        key = (skills, number if number in holders else -1)
        if key not in banned_for:
            banned_for[key] = frozenset(
                [where for where, needs in skilled if not needs <= skills]
                + [where for where, owner in bound_to.items() if owner != number]
            )
        banned = banned_for[key]
        if banned not in profiles:
            profiles.append(banned)
        vehicle_profile.append(profiles.index(banned))
    return profiles, vehicle_profile


def _vehicle_types(
    problem: Problem,
    states: Sequence[Availability],
    builder: _Builder,
    vehicle_profile: list[int],
) -> tuple[list[VehicleType], tuple[tuple[int, ...], ...]]:
    """One PyVRP vehicle type per group of interchangeable vehicles, in first-seen order."""
    by_distance = problem.objective is Objective.MINIMISE_DISTANCE
    groups: dict[tuple[int, ...], list[int]] = {}
    for number, state in enumerate(states):
        end = state.vehicle.end_location
        key = (
            builder.depot_of[state.location],
            builder.depot_of[VIRTUAL_END if end is None else end],
            state.ready_s,
            _clip(state.vehicle.end_s),
            _clip(state.capacity_left),
            INT64_MAX if state.distance_left_m is None else state.distance_left_m,
            vehicle_profile[number],
            # A vehicle with a fixed prefix or open drops is one of a kind.
            number if state.prefix else -1,
        )
        groups.setdefault(key, []).append(number)
    vehicle_types = [
        VehicleType(
            num_available=len(members),
            capacity=[key[4]],
            start_depot=key[0],
            end_depot=key[1],
            tw_early=key[2],
            tw_late=key[3],
            max_distance=key[5],
            unit_distance_cost=1 if by_distance else 0,
            unit_duration_cost=0 if by_distance else 1,
            profile=key[6],
            name=",".join(free_vehicle(states[m]).id for m in members),
        )
        for key, members in groups.items()
    ]
    return vehicle_types, tuple(tuple(members) for members in groups.values())
