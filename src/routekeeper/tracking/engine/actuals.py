"""Actuals: jitter-filtered distance, tracked duration and coverage, polylines, deviation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from routekeeper.tracking.engine.evolve import evolve
from routekeeper.tracking.engine.fixes import Fix, Instant, format_utc_ms
from routekeeper.tracking.engine.geofence import Geofence, GeofenceKind, haversine_m
from routekeeper.travel.base import LonLat

MIN_STEP_M = 5.0
"""A move shorter than this never counts, even between two very accurate fixes."""

STATIONARY_SPEED_MPS = 0.5
"""A fix reporting a speed below this does not start a move (stationary jitter)."""

TRACKING_GAP_S = 180.0
"""Two consecutive fixes further apart than this leave the time between them untracked."""

CENTRE_MEAN_FIXES = 10
"""While the device stays put, moves are judged from the mean of up to this many fixes."""

MAX_STORED_GAPS = 500
"""Beyond this many remembered gaps the oldest are folded into a total (no longer splittable)."""


def _moved(a: Fix, b: Fix) -> bool:
    """Whether ``b`` is farther from ``a`` than their combined accuracy (and the minimum step)."""
    threshold = max(MIN_STEP_M, a.accuracy_or_assumed_m + b.accuracy_or_assumed_m)
    return haversine_m(a.lonlat, b.lonlat) > threshold


def _detour(a: Fix, p: Fix, f: Fix) -> bool:
    """Whether going a -> p -> f is a detour no real path makes (``p`` is an off-track spike).

    The excess over going straight must exceed both the accuracy slack (p's error counts on
    both legs) and the straight distance itself, so corners and bends pass.
    """
    straight = haversine_m(a.lonlat, f.lonlat)
    excess = haversine_m(a.lonlat, p.lonlat) + haversine_m(p.lonlat, f.lonlat) - straight
    slack = a.accuracy_or_assumed_m + 2.0 * p.accuracy_or_assumed_m + f.accuracy_or_assumed_m
    return excess > max(slack, straight)


def _stationary(fix: Fix) -> bool:
    """Whether the device itself reports standing still."""
    return fix.speed_mps is not None and fix.speed_mps < STATIONARY_SPEED_MPS


def _settled(centre: Fix, centre_fixes: int, fix: Fix) -> tuple[Fix, int]:
    """Average a fix that did not move into the centre, so the centre converges on the spot.

    Judging moves from one noisy fix lets every other jittering fix look like a move; the
    running mean of the last few stationary fixes does not.  Distance is still counted from
    the anchor, so slow creeping (steps under the accuracy) is not lost to the mean's lag.
    """
    weight = min(centre_fixes, CENTRE_MEAN_FIXES - 1)
    lon = centre.lon + (fix.lon - centre.lon) / (weight + 1)
    lat = centre.lat + (fix.lat - centre.lat) / (weight + 1)
    settled = Fix(fix.recorded_at, lon, lat, centre.accuracy_m, centre.speed_mps,
                  centre.bearing_deg, centre.altitude_m, centre.battery_percent)
    return settled, weight + 1


def _step(distance: float, anchor: Fix | None, centre: Fix | None, centre_fixes: int,
          pending: Fix | None, fix: Fix) -> tuple[float, Fix | None, Fix | None, int, Fix | None]:
    """Advance the distance filter (see :class:`Actuals`) by one fix: the new
    (distance_m, anchor, centre, centre_fixes, pending)."""
    if anchor is None or centre is None:
        return distance, fix, fix, 1, None
    if pending is not None:
        if not _moved(centre, fix):
            # The pending fix was a spike: the device is back where it was.
            return (distance, anchor, *_settled(centre, centre_fixes, fix), None)
        if not _detour(centre, pending, fix):
            distance += haversine_m(anchor.lonlat, pending.lonlat)
            anchor, centre, centre_fixes = pending, pending, 1
    if not _moved(centre, fix):
        return (distance, anchor, *_settled(centre, centre_fixes, fix), None)
    if not _stationary(fix):
        return distance, anchor, centre, centre_fixes, fix
    return distance, anchor, centre, centre_fixes, None


@dataclass(frozen=True, slots=True)
class Actuals:

    """What was travelled and how well it was tracked, updated one fix at a time.

    Distance: moves are judged from ``centre`` (the running mean of the fixes since the last
    counted move, so stationary jitter averages out) and counted from ``anchor`` (the last
    counted point).  A fix farther from the centre than both accuracies together becomes
    ``pending``; the next fix either confirms it (it is also away from the centre and going
    through ``pending`` is no wild detour, so anchor->pending is counted) or shows it was a
    spike (it came back near the centre, or the detour through it is longer than going
    straight, so nothing is counted).  Fixes reporting a near-zero speed never start a move.
    Coverage: ``gaps`` are the intervals between consecutive fixes longer than ``gap_s``.
    """

    distance_m: float = 0.0
    first_at: Instant | None = None
    last_at: Instant | None = None
    anchor: Fix | None = None
    centre: Fix | None = None
    centre_fixes: int = 0
    pending: Fix | None = None
    gaps: tuple[tuple[Instant, Instant], ...] = ()
    folded_gap_s: float = 0.0
    gap_s: float = TRACKING_GAP_S

    @property
    def duration_s(self) -> float:
        """Return seconds from the first to the last fix counted."""
        if self.first_at is None or self.last_at is None:
            return 0.0
        return (self.last_at - self.first_at).total_seconds()

    @property
    def distance_with_pending_m(self) -> float:
        """Return the distance including the unconfirmed last leg (an upper estimate)."""
        if self.anchor is None or self.pending is None:
            return self.distance_m
        return self.distance_m + haversine_m(self.anchor.lonlat, self.pending.lonlat)

    def add(self, fix: Fix) -> Actuals:
        """Count a fix newer than every fix so far; an older one is passed to :meth:`add_late`."""
        t = fix.recorded_at
        if self.last_at is not None and t <= self.last_at:
            return self.add_late(fix)
        gaps = self.gaps
        if self.last_at is not None and (t - self.last_at).total_seconds() > self.gap_s:
            gaps = (*gaps, (self.last_at, t))
        distance, anchor, centre, centre_fixes, pending = _step(
            self.distance_m, self.anchor, self.centre, self.centre_fixes, self.pending, fix)
        out = evolve(self, first_at=self.first_at or t, last_at=t, gaps=gaps,
                      distance_m=distance, anchor=anchor, centre=centre,
                      centre_fixes=centre_fixes, pending=pending)
        return out._fold() if len(gaps) > MAX_STORED_GAPS else out

    def add_fresh(self, fixes: Sequence[Fix]) -> tuple[Actuals, list[float]]:
        """Count fixes newer than every fix so far, in time order, as :meth:`add` would one by
        one; with ``distance_m`` after each fix (what a visit that changes there records).

        One new value for the batch: a new value per fix was a third of this work for the
        tracking processor's batches of 100 fixes (py-spy)."""
        first_at, last_at, gap_s = self.first_at, self.last_at, self.gap_s
        distance, anchor, centre = self.distance_m, self.anchor, self.centre
        centre_fixes, pending = self.centre_fixes, self.pending
        out = self
        distances: list[float] = []
        for fix in fixes:
            t = fix.recorded_at
            if last_at is not None:
                if t <= last_at:
                    raise ValueError("add_fresh takes fixes newer than every fix so far")
                if (t - last_at).total_seconds() > gap_s:
                    # Rare (a gap of minutes): the gap goes in as add() puts it, folded alike.
                    out = evolve(out, first_at=first_at, last_at=last_at, distance_m=distance,
                                 anchor=anchor, centre=centre, centre_fixes=centre_fixes,
                                 pending=pending).add(fix)
                    first_at, last_at, distance = out.first_at, out.last_at, out.distance_m
                    anchor, centre, centre_fixes = out.anchor, out.centre, out.centre_fixes
                    pending = out.pending
                    distances.append(distance)
                    continue
            if first_at is None:
                first_at = t
            last_at = t
            distance, anchor, centre, centre_fixes, pending = _step(
                distance, anchor, centre, centre_fixes, pending, fix)
            distances.append(distance)
        if not distances:
            return self, distances
        return evolve(out, first_at=first_at, last_at=last_at, distance_m=distance,
                      anchor=anchor, centre=centre, centre_fixes=centre_fixes,
                      pending=pending), distances

    def add_late(self, fix: Fix) -> Actuals:
        """Count a fix older than the newest one for coverage only (splitting a gap it falls in).

        Its distance cannot be inserted soundly without the neighbouring fixes, so it is not.
        """
        t = fix.recorded_at
        if self.first_at is None or self.last_at is None:
            return self.add(fix)
        if t < self.first_at:
            gaps = self.gaps
            if (self.first_at - t).total_seconds() > self.gap_s:
                gaps = ((t, self.first_at), *gaps)
            return evolve(self, first_at=t, gaps=gaps)._fold()
        new_gaps: list[tuple[datetime, datetime]] = []
        for start, end in self.gaps:
            if start < t < end:
                for piece in ((start, t), (t, end)):
                    if (piece[1] - piece[0]).total_seconds() > self.gap_s:
                        new_gaps.append(piece)
            else:
                new_gaps.append((start, end))
        return evolve(self, gaps=tuple(new_gaps))

    def _fold(self) -> Actuals:
        """Fold the oldest gaps into ``folded_gap_s`` beyond MAX_STORED_GAPS."""
        if len(self.gaps) <= MAX_STORED_GAPS:
            return self
        extra = len(self.gaps) - MAX_STORED_GAPS
        folded = sum((e - s).total_seconds() for s, e in self.gaps[:extra])
        return evolve(self, gaps=self.gaps[extra:], folded_gap_s=self.folded_gap_s + folded)

    def untracked_s(
        self, *, since_at: datetime | None = None, until_at: datetime | None = None
    ) -> float:
        """Return untracked seconds, counting a leading/trailing gap to since/until if given."""
        total = self.folded_gap_s + sum((e - s).total_seconds() for s, e in self.gaps)
        if self.first_at is not None and since_at is not None:
            lead = (self.first_at - since_at).total_seconds()
            total += lead if lead > self.gap_s else 0.0
        if self.last_at is not None and until_at is not None:
            trail = (until_at - self.last_at).total_seconds()
            total += trail if trail > self.gap_s else 0.0
        return total

    def tracking_rate(
        self, *, since_at: datetime | None = None, until_at: datetime | None = None
    ) -> float:
        """Return the fraction (0..1) of the tracked span not lost in gaps longer than ``gap_s``.

        The span runs from the first fix (or ``since_at``) to the last fix (or ``until_at``);
        with no fix at all the rate is 0, with a single instant it is 1.
        """
        if self.first_at is None or self.last_at is None:
            return 0.0
        start = min(self.first_at, since_at) if since_at is not None else self.first_at
        end = max(self.last_at, until_at) if until_at is not None else self.last_at
        span = (end - start).total_seconds()
        if span <= 0.0:
            return 1.0
        lost = self.untracked_s(since_at=since_at, until_at=until_at)
        return round(max(0.0, min(1.0, 1.0 - lost / span)), 4)


def accumulate(fixes: Iterable[Fix], actuals: Actuals | None = None) -> Actuals:
    """Feed ``fixes`` (in recorded_at order) into an accumulator, a new one by default."""
    acc = actuals if actuals is not None else Actuals()
    for fix in fixes:
        acc = acc.add(fix)
    return acc


def polyline_points(fixes: Iterable[Fix]) -> list[list[float | str | None]]:
    """Return ``[lon, lat, altitude_m or null, "…T…sssZ"]`` per fix, sorted, one per instant."""
    points: list[list[float | str | None]] = []
    last: datetime | None = None
    for fix in sorted(fixes, key=lambda f: f.recorded_at):
        if last is not None and fix.recorded_at == last:
            continue
        last = fix.recorded_at
        points.append([fix.lon, fix.lat, fix.altitude_m, format_utc_ms(fix.recorded_at)])
    return points


def deviation_from_destination_m(destination: Geofence | LonLat, point: LonLat) -> float:
    """Return metres from a completion point to the destination.

    For a point or a circle this is the distance to the centre; for a polygon it is 0 inside and
    the distance to the boundary outside.
    """
    if not isinstance(destination, Geofence):
        return haversine_m(destination, point)
    if destination.kind is GeofenceKind.CIRCLE:
        return haversine_m(destination.center, point)
    return max(0.0, destination.signed_distance_m(point))
