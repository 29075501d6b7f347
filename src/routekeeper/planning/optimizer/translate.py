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
* A job with several windows, or a soft window, is a mutually exclusive client group: one
  client per window, and for a soft window one more per lateness step (a wider window whose
  prize is lower by the lateness cost at the end of the step), all at the job's location.
* Reloads are PyVRP reload depots (a depot per reload place and reload time); breaks shorten
  the shift the search sees by their durations and are placed by ``schedule.simulate``.
* ``balance_time`` adds PyVRP overtime: every second a route runs beyond the fleet's average
  costs ``BALANCE_WEIGHT`` more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, Shipment, VehicleType
from pyvrp.constants import MAX_VALUE

from routekeeper.planning.optimizer.diagnose import free_vehicle, unit_demand
from routekeeper.planning.optimizer.model import MAX_TIME_S, Job, Objective, Priority, Problem
from routekeeper.planning.optimizer.warm import Availability

INT64_MAX = int(np.iinfo(np.int64).max)
VIRTUAL_END = -1
PRIORITY_LEVEL = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2}
PRIORITY_STEP = 4
# Prizes and penalties multiply inside PyVRP; this cap keeps their products inside int64.
MAX_BASE_PRIZE = 1_000_000
DEFAULT_MAX_PENALTY = 100_000.0
# Lateness steps (minutes after the last window closes) the search sees for a soft window;
# beyond the last step a job is charged as if it were LATEST_STEP_MIN late.
LATENESS_STEPS_MIN = (15, 30, 60, 120, 240, 480)
LATEST_STEP_MIN = 960
# balance_time: a second of a route beyond the fleet's average costs this much more.
BALANCE_WEIGHT = 2


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
    # PyVRP depot index -> problem location, for the depots vehicles reload at.
    reload_depots: dict[int, int]
    # Units the search must serve for a complete plan: plain clients plus groups.
    num_client_units: int

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
    if problem.objective is not Objective.MINIMISE_DISTANCE:
        latest_end = max(min(job.hard_late_s, MAX_TIME_S) + job.service_s for job in jobs)
        span = max(min(s.vehicle.end_s, latest_end + longest) - s.ready_s for s in states)
        prize += max(job.service_s for job in jobs) + max(0, span)
    if problem.objective is Objective.BALANCE_TIME:
        prize *= 1 + BALANCE_WEIGHT
    return min(prize, MAX_BASE_PRIZE)


def alternatives(job: Job) -> list[tuple[int, int, int]]:
    """(early, late, lateness cost) of each client that may serve the job."""
    windows = [(early, late, 0) for early, late in job.time_windows]
    cost = job.lateness_cost_per_min
    if cost is not None:
        early, late, _ = windows[-1]
        windows += [(early, late + 60 * step, cost * step) for step in LATENESS_STEPS_MIN]
        windows.append((early, MAX_TIME_S, cost * LATEST_STEP_MIN))
    return windows


def shipment_window(job: Job, ready_s: int) -> tuple[int, int]:
    """The one window a pick or drop gets in PyVRP (shipments cannot be grouped): the first
    that is still open when the earliest vehicle is ready; a soft window acts as hard."""
    return next((w for w in job.time_windows if w[1] >= ready_s), job.time_windows[-1])


class _Builder:
    """Collects PyVRP locations, clients and shipments while remembering where jobs went."""

    def __init__(self, problem: Problem, states: Sequence[Availability]) -> None:
        """Start with one depot per distinct start or end location, and per reload place."""
        self.problem = problem
        self.sources: list[int] = []
        self.depot_of: dict[int, int] = {}
        # PyVRP depots as (PyVRP location, service duration); depot_of maps to their index.
        self.depots: list[tuple[int, int]] = []
        self.reload_of: dict[tuple[int, int], int] = {}
        # Problem location -> the first equivalent one used as a depot (see ``_same_place``).
        self.canonical: dict[int, int] = {}
        for state in states:
            self.depot(state.location)
            end = state.vehicle.end_location
            self.depot(VIRTUAL_END if end is None else end)
        for state in states:
            vehicle = state.vehicle
            for source in vehicle.reload_locations:
                # Its own depot, because PyVRP spends a depot's service duration at the
                # start of a route too, and reloading takes time that starting does not.
                key = (source, vehicle.reload_s)
                if key not in self.reload_of:
                    self.reload_of[key] = len(self.depots)
                    self.depots.append((len(self.sources), vehicle.reload_s))
                    self.sources.append(source)
        self.job_location: dict[int, int] = {}

    def _same_place(self, a: int, b: int) -> bool:
        """Whether two problem locations are interchangeable: same point, same rows and columns.

        Workers who all start from one depot (or from homes at one address) each have a
        location of their own in the Problem; as separate PyVRP depots they would make as many
        vehicle types as workers, which slows every local-search move that considers an empty
        route (one per vehicle type) and costs PyVRP much of its quality at 400+ stops.
        """
        problem = self.problem
        if problem.locations and problem.locations[a] != problem.locations[b]:
            return False
        return all(
            np.array_equal(matrix[a], matrix[b]) and np.array_equal(matrix[:, a], matrix[:, b])
            for matrix in (problem.distance_m, problem.duration_s)
        )

    def depot(self, source: int) -> int:
        """The depot index for a problem location, adding it when new (an equivalent location
        already used as a depot stands for it)."""
        if source not in self.canonical:
            self.canonical[source] = next(
                (seen for seen in self.depot_of if seen != VIRTUAL_END and source != VIRTUAL_END
                 and self._same_place(seen, source)),
                source,
            )
        source = self.canonical[source]
        if source not in self.depot_of:
            self.depot_of[source] = len(self.depots)
            self.depots.append((len(self.sources), 0))
            self.sources.append(source)
        return self.depot_of[source]

    def reload_depots(self) -> dict[int, int]:
        """PyVRP depot index -> problem location of every reload depot."""
        return {index: source for (source, _), index in self.reload_of.items()}

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


class _Units:
    """The PyVRP clients and shipments of the units, each in an optional and a required
    variant, with what maps them back to jobs."""

    def __init__(self, problem: Problem, builder: _Builder, base: int, ready_s: int) -> None:
        """Nothing added yet."""
        self.problem = problem
        self.builder = builder
        self.base = base
        self.ready_s = ready_s
        self.clients: list[tuple[Client, ...]] = []
        self.shipments: list[tuple[Shipment, ...]] = []
        self.client_jobs: list[int] = []
        self.shipment_jobs: list[tuple[int, int]] = []
        self.bound_to: dict[int, int] = {}
        self.max_prize = 1
        self.groups: list[tuple[ClientGroup, ClientGroup]] = []

    def add(self, unit: Unit) -> None:
        """A single job as clients (one per alternative window), a pair as a shipment."""
        jobs = [self.problem.jobs[i] for i in unit.jobs]
        prize = sum(job_prize(self.base, job) for job in jobs)
        amount = [unit_demand(self.problem, list(unit.jobs))]
        if len(jobs) == 1:
            self._client(unit, jobs[0], prize, amount)
        else:
            self._shipment(unit, jobs[0], jobs[1], prize, amount)

    def _client(self, unit: Unit, job: Job, prize: int, amount: list[int]) -> None:
        clients = self.clients
        where = self.builder.place(unit.jobs[0])
        if unit.bound_vehicle is not None:
            self.bound_to[where] = unit.bound_vehicle
        options = alternatives(job)
        top = max(cost for _, _, cost in options)
        self.max_prize = max(self.max_prize, prize + top)
        group = len(self.groups) if len(options) > 1 else None
        for early, late, cost in options:
            clients.append(
                tuple(
                    Client(
                        location=where,
                        delivery=amount,
                        service_duration=job.service_s,
                        tw_early=early,
                        tw_late=_clip(late),
                        # A required job's prize would change no decision; zero keeps the
                        # required model identical to PyVRP's plain one. In a group, the
                        # prize still says how much a later alternative costs.
                        prize=(0 if required else prize) + top - cost,
                        required=required and group is None,
                        group=group,
                        name=job.id,
                    )
                    for required in (False, True)
                )
            )
            self.client_jobs.append(unit.jobs[0])
        if group is not None:
            members = list(range(len(clients) - len(options), len(clients)))
            self.groups.append((ClientGroup(members, required=False, name=job.id),
                                ClientGroup(members, required=True, name=job.id)))

    def _shipment(self, unit: Unit, pick: Job, drop: Job, prize: int,
                  amount: list[int]) -> None:
        self.max_prize = max(self.max_prize, prize)
        pick_where = self.builder.place(unit.jobs[0])
        drop_where = self.builder.place(unit.jobs[1])
        if unit.bound_vehicle is not None:
            self.bound_to[pick_where] = self.bound_to[drop_where] = unit.bound_vehicle
        (pick_early, pick_late) = shipment_window(pick, self.ready_s)
        (drop_early, drop_late) = shipment_window(drop, max(self.ready_s, pick_early))
        # PyVRP refuses a drop that must happen before its pick may; a soft drop may be
        # late instead, and anything else the search gets wrong the repair takes out.
        drop_late = max(drop_late, pick_early)
        self.shipments.append(
            tuple(
                Shipment(
                    pickup_location=pick_where,
                    delivery_location=drop_where,
                    pickup_tw_early=pick_early,
                    pickup_tw_late=_clip(pick_late),
                    pickup_service_duration=pick.service_s,
                    delivery_tw_early=drop_early,
                    delivery_tw_late=_clip(drop_late),
                    delivery_service_duration=drop.service_s,
                    amount=amount,
                    prize=0 if required else prize,
                    required=required,
                    name=f"{pick.id}>{drop.id}",
                )
                for required in (False, True)
            )
        )
        self.shipment_jobs.append((unit.jobs[0], unit.jobs[1]))


def translate(
    problem: Problem, states: Sequence[Availability], units: Sequence[Unit]
) -> Translation:
    """Build PyVRP data for these units on these (usable) vehicles."""
    builder = _Builder(problem, states)
    added = _Units(problem, builder, base_prize(problem, states, units),
                   min(state.ready_s for state in states))
    for unit in units:
        added.add(unit)
    clients, shipments, groups = added.clients, added.shipments, added.groups
    client_jobs, shipment_jobs = added.client_jobs, added.shipment_jobs
    bound_to, max_prize = added.bound_to, added.max_prize
    distance, duration = builder.matrices()
    longest = int(max(distance.max(), duration.max())) if distance.size else 0
    forbidden = min(MAX_VALUE, 4 * (max_prize + longest) + 1)
    profiles, vehicle_profile = _profiles(problem, states, builder, bound_to)
    target = (balance_target(problem, states, units)
              if problem.objective is Objective.BALANCE_TIME else None)
    vehicle_types, type_vehicles = _vehicle_types(problem, states, builder, vehicle_profile,
                                                  target)
    # Coordinates are informative for PyVRP too; the matrices drive the search.
    points = problem.locations or ((0.0, 0.0),) * problem.num_locations
    locations = [Location(x=points[max(s, 0)][0], y=points[max(s, 0)][1]) for s in builder.sources]
    depots = [Depot(location=where, service_duration=service) for where, service in builder.depots]
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
        groups=[g[0] for g in groups],
        shipments=[s[0] for s in shipments],
    )
    required = data.replace(
        clients=[c[1] for c in clients], groups=[g[1] for g in groups],
        shipments=[s[1] for s in shipments],
    )
    grouped = sum(len(g[0]) for g in groups)
    return Translation(
        data=data,
        required_data=required,
        client_jobs=tuple(client_jobs),
        shipment_jobs=tuple(shipment_jobs),
        type_vehicles=type_vehicles,
        max_prize=max_prize,
        reload_depots=builder.reload_depots(),
        num_client_units=len(clients) - grouped + len(groups),
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


def break_time(state: Availability) -> int:
    """Seconds of breaks the vehicle may need after it is free: the search keeps them free."""
    vehicle = state.vehicle
    return sum(b.duration_s for b in vehicle.breaks
               if b.late_s > state.ready_s and b.early_s < vehicle.end_s)


def balance_target(problem: Problem, states: Sequence[Availability], units: Sequence[Unit]) -> int:
    """The average route duration balance_time aims at: each job's service and its shortest
    way in, shared out over the vehicles (a lower estimate of an even share of the work)."""
    indices = sorted({i for unit in units for i in unit.jobs})
    places = sorted({problem.jobs[i].location for i in indices} | {s.location for s in states})
    matrix = problem.duration_s[np.ix_(places, places)].astype(np.float64)
    np.fill_diagonal(matrix, np.inf)
    nearest = dict(zip(places, matrix.min(axis=0), strict=True))
    work = 0.0
    for i in indices:
        job = problem.jobs[i]
        way_in = nearest[job.location]
        work += job.service_s + (0.0 if not np.isfinite(way_in) else float(way_in))
    return int(work / max(1, len(states)))


def _vehicle_types(
    problem: Problem,
    states: Sequence[Availability],
    builder: _Builder,
    vehicle_profile: list[int],
    target_s: int | None,
) -> tuple[list[VehicleType], tuple[tuple[int, ...], ...]]:
    """One PyVRP vehicle type per group of interchangeable vehicles, in first-seen order."""
    by_distance = problem.objective is Objective.MINIMISE_DISTANCE
    groups: dict[tuple[int, ...], list[int]] = {}
    for number, state in enumerate(states):
        vehicle = state.vehicle
        end = vehicle.end_location
        reloads = tuple(sorted(builder.reload_of[(source, vehicle.reload_s)]
                               for source in set(vehicle.reload_locations)))
        key = (
            builder.depot(state.location),
            builder.depot(VIRTUAL_END if end is None else end),
            state.ready_s,
            max(state.ready_s, _clip(vehicle.end_s) - break_time(state)),
            _clip(state.capacity_left),
            INT64_MAX if state.distance_left_m is None else state.distance_left_m,
            vehicle_profile[number],
            # A vehicle with a fixed prefix or open drops is one of a kind.
            number if state.prefix else -1,
            -1 if vehicle.max_reloads is None else vehicle.max_reloads,
            *reloads,
        )
        groups.setdefault(key, []).append(number)
    vehicle_types = []
    for key, members in groups.items():
        reload_depots = list(key[9:])
        vehicle_type = VehicleType(
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
            reload_depots=reload_depots,
            max_reloads=(key[8] if key[8] >= 0 else 1 << 20) if reload_depots else 0,
            name=",".join(free_vehicle(states[m]).id for m in members),
        )
        if target_s is not None:
            vehicle_type = vehicle_type.replace(shift_duration=target_s, max_overtime=MAX_TIME_S,
                                                unit_overtime_cost=BALANCE_WEIGHT)
        vehicle_types.append(vehicle_type)
    return vehicle_types, tuple(tuple(members) for members in groups.values())
