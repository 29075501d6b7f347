"""Each HyperTrack reason from diagnose(), on a problem built to trigger exactly that cause."""

from __future__ import annotations

from optimizer_builders import line_problem

from routekeeper.planning.optimizer import (
    DROPPED_FOR_PLAN,
    EXCEEDS_CAPACITY,
    EXCEEDS_MAX_DISTANCE,
    EXCEEDS_SHIFT_END,
    NO_SCHEDULE_OVERLAP,
    NO_SKILLED_WORKER,
    NO_WORKER,
    UNREACHABLE_BEFORE_LATE,
    Job,
    Vehicle,
    diagnose,
)

# Depot at 0, the job 100 m (= 100 s) away.
POSITIONS = [0, 100]


def van(**changes: object) -> Vehicle:
    """A depot-based vehicle with a generous shift, adjusted by ``changes``."""
    fields: dict[str, object] = dict(
        id="van", start_location=0, end_location=0, start_s=0, end_s=10_000, capacity=10
    )
    fields.update(changes)
    return Vehicle(**fields)  # type: ignore[arg-type]


def reason(job: Job, vehicles: list[Vehicle]) -> str:
    """Diagnose the single job of a two-location line problem."""
    return diagnose(line_problem(POSITIONS, [job], vehicles), job.id)


def test_no_worker() -> None:
    """Without any vehicle the job cannot be planned."""
    assert reason(Job(id="a", location=1), []) == NO_WORKER


def test_no_skilled_worker() -> None:
    """A job needing a skill nobody has."""
    job = Job(id="a", location=1, skills=frozenset({"fridge"}))
    assert reason(job, [van(skills=frozenset({"crane"}))]) == NO_SKILLED_WORKER


def test_no_schedule_overlap() -> None:
    """A window entirely after the only skilled vehicle's shift."""
    job = Job(id="a", location=1, early_s=20_000, late_s=21_000)
    assert reason(job, [van()]) == NO_SCHEDULE_OVERLAP


def test_skilled_vehicle_shift_is_the_one_that_counts() -> None:
    """An unskilled vehicle whose shift would fit does not hide the overlap problem."""
    job = Job(id="a", location=1, early_s=20_000, late_s=21_000, skills=frozenset({"x"}))
    vehicles = [van(id="skilled", skills=frozenset({"x"})), van(id="other", end_s=30_000)]
    assert reason(job, vehicles) == NO_SCHEDULE_OVERLAP


def test_exceeds_capacity() -> None:
    """Demand above every vehicle's capacity."""
    assert reason(Job(id="a", location=1, demand=11), [van()]) == EXCEEDS_CAPACITY


def test_unreachable_before_late() -> None:
    """The window closes 50 s after shift start but the drive takes 100 s."""
    job = Job(id="a", location=1, early_s=0, late_s=50)
    assert reason(job, [van()]) == UNREACHABLE_BEFORE_LATE


def test_exceeds_shift_end() -> None:
    """Reachable in time, but service plus the way back overruns the shift."""
    job = Job(id="a", location=1, service_s=500, late_s=200)
    assert reason(job, [van(end_s=650)]) == EXCEEDS_SHIFT_END


def test_exceeds_max_distance() -> None:
    """The round trip (200 m) is above the vehicle's 150 m limit."""
    assert reason(Job(id="a", location=1), [van(max_distance_m=150)]) == EXCEEDS_MAX_DISTANCE


def test_dropped_for_plan() -> None:
    """A job that fits alone gets the generic planning reason."""
    assert reason(Job(id="a", location=1), [van()]) == DROPPED_FOR_PLAN


def test_pair_is_diagnosed_as_a_unit() -> None:
    """A pick whose drop cannot be reached in time shares the drop's reason."""
    pick = Job(id="p", location=1)
    drop = Job(id="d", location=0, late_s=150, pick_job="p")
    problem = line_problem(POSITIONS, [pick, drop], [van()])
    assert diagnose(problem, "d") == UNREACHABLE_BEFORE_LATE
    assert diagnose(problem, "p") == UNREACHABLE_BEFORE_LATE


def test_vehicle_after_fixed_prefix() -> None:
    """A vehicle busy with fixed work until late cannot reach an early window."""
    done = Job(id="done", location=1, service_s=1_000)
    job = Job(id="a", location=0, late_s=500)
    problem = line_problem(POSITIONS, [done, job], [van(fixed_jobs=("done",))])
    assert diagnose(problem, "a") == UNREACHABLE_BEFORE_LATE
