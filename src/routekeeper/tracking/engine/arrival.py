"""The per-order visit state machine: approaching -> candidate -> arrived -> exited.

An inside fix only opens a *candidate*; the arrival is confirmed by a later inside fix, or by a
later fix that is not outside once ``dwell_s`` has passed.  The arrival time is the first inside
fix's ``recorded_at``.  Leaving works the same way with hysteresis: only a fix farther than
radius + exit buffer + accuracy counts as outside, and it must be confirmed too.  A visit arrives
at most once and exits at most once; ``exited`` is terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routekeeper.tracking.engine.evolve import evolve
from routekeeper.tracking.engine.fixes import Fix, Instant
from routekeeper.tracking.engine.geofence import Geofence, Presence, inside_confidence

# Where a visit stands.
VisitPhase = StrEnum("VisitPhase", "APPROACHING CANDIDATE ARRIVED EXIT_CANDIDATE EXITED")


# The two visit events, named like the Orders API webhook values.
VisitEventKind = StrEnum("VisitEventKind", "ARRIVED EXITED")


@dataclass(frozen=True, slots=True)
class Sighting:
    """When and where a fix was taken (what an event reports), without the rest of the fix."""

    recorded_at: Instant
    lon: float
    lat: float
    accuracy_m: float | None

    @classmethod
    def of(cls, fix: Fix) -> Sighting:
        """Keep the time, place and accuracy of ``fix``."""
        return cls(fix.recorded_at, fix.lon, fix.lat, fix.accuracy_m)


@dataclass(frozen=True, slots=True)
class VisitEvent:
    """An arrival or exit: the time and place of the fix that started it, and its confirmation."""

    kind: VisitEventKind
    recorded_at: datetime
    lon: float
    lat: float
    accuracy_m: float | None
    confirmed_at: datetime


@dataclass(frozen=True, slots=True)
class VisitState:
    """One order's visit; ``candidate`` is the unconfirmed first inside (or outside) sighting.

    ``last_fix_at`` is the newest fix the visit was stepped with: :func:`step` ignores older
    ones. The pipeline does not step a visit still approaching while its fixes are far away,
    so that visit's time may lag behind the route's newest fix.
    """

    phase: VisitPhase = VisitPhase.APPROACHING
    last_fix_at: Instant | None = None
    candidate: Sighting | None = None
    arrival: Sighting | None = None
    exit: Sighting | None = None

    @property
    def arrived_at(self) -> datetime | None:
        """Return when the visit arrived (first inside fix), if it has."""
        return None if self.arrival is None else self.arrival.recorded_at

    @property
    def exited_at(self) -> datetime | None:
        """Return when the visit exited (first outside fix of the confirmed exit), if it has."""
        return None if self.exit is None else self.exit.recorded_at

    @property
    def actual_service_time_s(self) -> float | None:
        """Return seconds between arrival and exit, once both happened."""
        if self.arrived_at is None or self.exited_at is None:
            return None
        return (self.exited_at - self.arrived_at).total_seconds()

    @property
    def on_site(self) -> bool:
        """Return whether the worker has arrived and not (confirmedly) left."""
        return self.phase in (VisitPhase.ARRIVED, VisitPhase.EXIT_CANDIDATE)

    @property
    def has_arrived(self) -> bool:
        """Return whether an arrival was confirmed (possibly followed by an exit)."""
        return self.arrival is not None


def _event(kind: VisitEventKind, first: Sighting, confirming: Fix) -> VisitEvent:
    """Build the event for a transition started by ``first`` and confirmed by ``confirming``."""
    return VisitEvent(
        kind, first.recorded_at, first.lon, first.lat, first.accuracy_m, confirming.recorded_at
    )


def step(
    state: VisitState,
    fix: Fix,
    geofence: Geofence,
    *,
    dwell_s: float,
    exit_buffer_m: float,
    require_dwell: bool = False,
) -> tuple[VisitState, list[VisitEvent]]:
    """Advance one visit by one fix; fixes must come in ``recorded_at`` order.

    A fix not newer than the last one this visit saw is ignored (late or duplicate), so it can
    never undo an arrival.  With ``require_dwell`` a second inside fix is not enough: the arrival
    needs ``dwell_s`` of presence (used for orders the worker is not heading to, so that driving
    past them does not count as a visit).
    """
    if state.phase is VisitPhase.EXITED:
        return state, []
    if state.last_fix_at is not None and fix.recorded_at <= state.last_fix_at:
        return state, []
    presence = inside_confidence(geofence, fix, exit_buffer_m=exit_buffer_m)
    moved = evolve(state, last_fix_at=fix.recorded_at)
    candidate = state.candidate
    dwelled = candidate is not None and (
        (fix.recorded_at - candidate.recorded_at).total_seconds() >= dwell_s
    )

    if state.phase is VisitPhase.APPROACHING:
        if presence is Presence.INSIDE:
            return evolve(moved, phase=VisitPhase.CANDIDATE, candidate=Sighting.of(fix)), []
        return moved, []

    if state.phase is VisitPhase.CANDIDATE:
        assert candidate is not None
        if presence is Presence.OUTSIDE:
            return evolve(moved, phase=VisitPhase.APPROACHING, candidate=None), []
        confirmed = dwelled or (presence is Presence.INSIDE and not require_dwell)
        if not confirmed:
            return moved, []
        arrived = evolve(moved, phase=VisitPhase.ARRIVED, candidate=None, arrival=candidate)
        return arrived, [_event(VisitEventKind.ARRIVED, candidate, fix)]

    if state.phase is VisitPhase.ARRIVED:
        if presence is Presence.OUTSIDE:
            return evolve(moved, phase=VisitPhase.EXIT_CANDIDATE, candidate=Sighting.of(fix)), []
        return moved, []

    # EXIT_CANDIDATE
    assert candidate is not None
    if presence is Presence.INSIDE:
        return evolve(moved, phase=VisitPhase.ARRIVED, candidate=None), []
    if presence is Presence.OUTSIDE or dwelled:
        exited = evolve(moved, phase=VisitPhase.EXITED, candidate=None, exit=candidate)
        return exited, [_event(VisitEventKind.EXITED, candidate, fix)]
    return moved, []


def run(
    state: VisitState,
    fixes: list[Fix],
    geofence: Geofence,
    *,
    dwell_s: float,
    exit_buffer_m: float,
    require_dwell: bool = False,
) -> tuple[VisitState, list[VisitEvent]]:
    """Feed ``fixes`` (already in recorded_at order) through :func:`step`, collecting events."""
    events: list[VisitEvent] = []
    for fix in fixes:
        state, new = step(
            state,
            fix,
            geofence,
            dwell_s=dwell_s,
            exit_buffer_m=exit_buffer_m,
            require_dwell=require_dwell,
        )
        events.extend(new)
    return state, events
