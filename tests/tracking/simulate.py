"""Synthetic drives for tracking tests: a fake travel model and a noisy GPS track generator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import EARTH_RADIUS_M, Geofence, haversine_m
from routekeeper.tracking.engine.pipeline import TrackedOrder
from routekeeper.travel.base import Leg, LonLat, TravelMatrix

ORIGIN: LonLat = (13.3777, 52.5163)
T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


def offset(origin: LonLat, east_m: float, north_m: float) -> LonLat:
    """Return the point ``east_m`` east and ``north_m`` north of ``origin``."""
    lat = origin[1] + math.degrees(north_m / EARTH_RADIUS_M)
    lon = origin[0] + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(origin[1]))))
    return (lon, lat)


def at(seconds: float) -> datetime:
    """Return ``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


class FakeTravel:
    """Great-circle distance at a fixed speed; counts its calls."""

    def __init__(self, speed_mps: float = 5.0) -> None:
        """Travel at ``speed_mps`` everywhere."""
        self.speed_mps = speed_mps
        self.matrix_calls = 0
        self.leg_calls = 0

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        """Return great-circle distances and the matching durations."""
        self.matrix_calls += 1
        d = np.array([[haversine_m(o, d) for d in destinations] for o in origins], dtype=float)
        d = d.reshape(len(origins), len(destinations))
        return TravelMatrix(
            distance_m=np.rint(d).astype(np.int64),
            duration_s=np.rint(d / self.speed_mps).astype(np.int64),
        )

    def leg(self, origin: LonLat, destination: LonLat) -> Leg:
        """Return the straight leg."""
        self.leg_calls += 1
        d = haversine_m(origin, destination)
        return Leg(round(d), round(d / self.speed_mps), [origin, destination])


@dataclass(frozen=True)
class Piece:
    """A straight piece of the true track: from ``a`` to ``b`` (metres) between two offsets."""

    start_s: float
    end_s: float
    a: tuple[float, float]
    b: tuple[float, float]

    def position(self, t: float) -> tuple[float, float]:
        """Return the true (east, north) position at ``t`` seconds."""
        span = self.end_s - self.start_s
        f = 0.0 if span <= 0 else (t - self.start_s) / span
        return (self.a[0] + f * (self.b[0] - self.a[0]), self.a[1] + f * (self.b[1] - self.a[1]))


@dataclass(frozen=True)
class TrueVisit:
    """When the true track reached and left a stop's centre, and entered its radius."""

    order_key: str
    entered_radius_s: float
    reached_s: float
    left_s: float


@dataclass
class Trajectory:
    """A piecewise-linear true track built leg by leg."""

    pieces: list[Piece] = field(default_factory=list)
    position_m: tuple[float, float] = (0.0, 0.0)
    clock_s: float = 0.0

    def drive(self, to_m: tuple[float, float], speed_mps: float) -> None:
        """Drive straight to ``to_m`` at ``speed_mps``."""
        length = math.dist(self.position_m, to_m)
        end = self.clock_s + length / speed_mps
        self.pieces.append(Piece(self.clock_s, end, self.position_m, to_m))
        self.position_m, self.clock_s = to_m, end

    def stay(self, seconds: float) -> None:
        """Stand still for ``seconds``."""
        end = self.clock_s + seconds
        self.pieces.append(Piece(self.clock_s, end, self.position_m, self.position_m))
        self.clock_s = end

    def position(self, t: float) -> tuple[float, float]:
        """Return the true position at ``t`` seconds."""
        for piece in self.pieces:
            if t <= piece.end_s:
                return piece.position(max(t, piece.start_s))
        return self.position_m

    def length_m(self) -> float:
        """Return the true distance driven."""
        return sum(math.dist(p.a, p.b) for p in self.pieces)


@dataclass
class SimulatedDrive:
    """A generated drive: orders, the fixes in recorded order, and the truth to check against."""

    orders: list[TrackedOrder]
    fixes: list[Fix]
    truth: dict[str, TrueVisit]
    trajectory: Trajectory
    end_s: float
    gaps: list[tuple[float, float]]


A_M = (2000.0, 0.0)
B_M = (2000.0, 3500.0)
C_M = (500.0, 3500.0)
END_M = (-300.0, 2900.0)
RADIUS_M = 50.0
SERVICE_A_S, SERVICE_B_S, SERVICE_C_S = 300.0, 240.0, 300.0
JAM_S = 480.0
B_SLACK_S = 120.0


def _visit(key: str, traj: Trajectory, speed: float) -> TrueVisit:
    """Describe the stop just reached at ``speed`` (its departure is filled in later)."""
    reached = traj.clock_s
    return TrueVisit(key, reached - RADIUS_M / speed, reached, 0.0)


def three_stop_drive(
    seed: int,
    *,
    interval_s: float = 5.0,
    noise_m: float = 5.0,
    model_speed_mps: float = 5.0,
    spike_rate: float = 0.01,
    duplicate_rate: float = 0.03,
) -> SimulatedDrive:
    """Generate a depot -> A -> B -> C -> away drive with noise, spikes, gaps and duplicates.

    Leg A->B contains a traffic jam (standing still for JAM_S) followed by fast driving, so B's
    ETA slips past its scheduled_at and then recovers; B is reached ahead of scheduled_at.
    """
    rng = np.random.default_rng(seed)
    traj = Trajectory()
    truth: dict[str, TrueVisit] = {}

    traj.drive(A_M, model_speed_mps)
    visit_a = _visit("A", traj, model_speed_mps)
    traj.stay(SERVICE_A_S)
    truth["A"] = TrueVisit("A", visit_a.entered_radius_s, visit_a.reached_s, traj.clock_s)
    departed_a = traj.clock_s

    traj.drive((A_M[0], A_M[1] + 500.0), model_speed_mps)
    traj.stay(JAM_S)
    traj.drive(B_M, 4.0 * model_speed_mps)
    visit_b = _visit("B", traj, 4.0 * model_speed_mps)
    traj.stay(SERVICE_B_S)
    truth["B"] = TrueVisit("B", visit_b.entered_radius_s, visit_b.reached_s, traj.clock_s)

    traj.drive(C_M, model_speed_mps)
    visit_c = _visit("C", traj, model_speed_mps)
    traj.stay(SERVICE_C_S)
    truth["C"] = TrueVisit("C", visit_c.entered_radius_s, visit_c.reached_s, traj.clock_s)
    traj.drive(END_M, model_speed_mps)
    end_s = traj.clock_s

    planned_b_s = departed_a + math.dist(A_M, B_M) / model_speed_mps
    orders = [
        TrackedOrder(
            "A",
            Geofence.circle(offset(ORIGIN, *A_M), RADIUS_M),
            None,
            at(truth["A"].reached_s + 60),
            SERVICE_A_S,
        ),
        TrackedOrder(
            "B",
            Geofence.circle(offset(ORIGIN, *B_M), RADIUS_M),
            None,
            at(planned_b_s + B_SLACK_S),
            SERVICE_B_S,
        ),
        TrackedOrder(
            "C",
            Geofence.circle(offset(ORIGIN, *C_M), RADIUS_M),
            None,
            at(truth["C"].reached_s + 1800),
            SERVICE_C_S,
        ),
    ]

    # Outages in the middle of driving legs (never near a stop) and during the jam.
    gaps = [(100.0, 160.0), (departed_a + 150.0, departed_a + 330.0)]
    fixes: list[Fix] = []
    t = 0.0
    spiked_last = False
    battery = 80.0
    while t <= end_s + 60.0:
        if not any(a <= t < b for a, b in gaps):
            east, north = traj.position(t)
            accuracy = round(1.5 * noise_m * float(rng.uniform(0.8, 1.2)), 1)
            east += float(rng.normal(0.0, noise_m))
            north += float(rng.normal(0.0, noise_m))
            if not spiked_last and rng.random() < spike_rate:
                # A dishonest spike: far off but claiming good accuracy.
                angle = float(rng.uniform(0, 2 * math.pi))
                east += 250.0 * math.cos(angle)
                north += 250.0 * math.sin(angle)
                spiked_last = True
            else:
                spiked_last = False
            lon, lat = offset(ORIGIN, east, north)
            fixes.append(
                Fix(at(t), lon, lat, accuracy_m=accuracy, battery_percent=round(battery, 1))
            )
            if rng.random() < duplicate_rate:
                fixes.append(fixes[-1])
        battery -= 0.002 * interval_s
        t += interval_s
    return SimulatedDrive(orders, fixes, truth, traj, end_s, gaps)


def deliver_in_chunks(
    fixes: Sequence[Fix],
    seed: int,
    *,
    min_chunk: int = 4,
    max_chunk: int = 40,
    late_rate: float = 0.0,
) -> list[list[Fix]]:
    """Cut the recorded stream into uploads, shuffle each, and hold back some fixes to the next.

    A held-back fix arrives in the following upload, after newer fixes were processed: it is a
    late fix for the pipeline.
    """
    rng = np.random.default_rng(seed)
    chunks: list[list[Fix]] = []
    i = 0
    carry: list[Fix] = []
    while i < len(fixes):
        size = int(rng.integers(min_chunk, max_chunk + 1))
        chunk = list(fixes[i : i + size])
        i += size
        held = [f for f in chunk if rng.random() < late_rate]
        chunk = [f for f in chunk if all(f is not h for h in held)] + carry
        carry = held
        order = rng.permutation(len(chunk))
        chunks.append([chunk[k] for k in order])
    if carry:
        chunks.append(carry)
    return [c for c in chunks if c]


def upload_now(chunk: Sequence[Fix], delay_s: float = 2.0) -> datetime:
    """Return the server time at which an upload of ``chunk`` arrives."""
    return max(f.recorded_at for f in chunk) + timedelta(seconds=delay_s)


def as_processed(chunk: Sequence[Fix]) -> list[Fix]:
    """An upload's fixes as the processor runs them: in time order, one fix an instant."""
    unique: dict[datetime, Fix] = {}
    for fix in sorted(chunk, key=lambda f: f.recorded_at):
        unique.setdefault(fix.recorded_at, fix)
    return list(unique.values())
