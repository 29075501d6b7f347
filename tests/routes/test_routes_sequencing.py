"""Pure tests of stop sequencing: cheapest feasible insertion, solver optimisation, departure."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routekeeper.routes.estimates import StopInput, estimate_route
from routekeeper.routes.sequencing import (
    departure,
    insert_cheapest,
    meets_deadlines,
    optimise_order,
)
from routekeeper.travel import StraightLineModel
from tests.routes.helpers import Point

TRAVEL = StraightLineModel()
T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
HOME: Point = (13.40, 52.50)

points = st.tuples(st.floats(13.30, 13.50), st.floats(52.45, 52.55))


def _distance(stops: list[StopInput], *, start: Point | None = HOME, back: bool = False) -> int:
    return estimate_route(start=start, stops=stops, depart_at=T0, travel=TRAVEL,
                          return_to_start=back).distance_m


def _feasible(stops: list[StopInput], *, start: Point | None = HOME) -> bool:
    estimate = estimate_route(start=start, stops=stops, depart_at=T0, travel=TRAVEL)
    return meets_deadlines(estimate, stops)


@st.composite
def windowed_stops(draw: st.DrawFn, *, max_size: int) -> list[StopInput]:
    """Stops with optional deadlines between 5 minutes and 2 hours after T0."""
    locations = draw(st.lists(points, min_size=1, max_size=max_size))
    return [
        StopInput(key=f"s{i}", location=loc, service_s=draw(st.integers(0, 600)),
                  scheduled_at=(T0 + timedelta(minutes=draw(st.integers(5, 120)))
                                if draw(st.booleans()) else None))
        for i, loc in enumerate(locations)
    ]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windowed_stops(max_size=5), st.integers(0, 5), st.booleans())
def test_insertion_is_the_cheapest_feasible_one(
    stops: list[StopInput], first_free: int, back: bool
) -> None:
    """The new stop lands at the shortest feasible position at or after first_free, the
    others keep their relative order; with no feasible position it is appended."""
    *route, new = stops
    result = insert_cheapest(route, new, first_free=first_free, start=HOME, depart_at=T0,
                             travel=TRAVEL, return_to_start=back)
    assert [s for s in result if s is not new] == route
    lowest = min(first_free, len(route))
    candidates = [[*route[:p], new, *route[p:]] for p in range(lowest, len(route) + 1)]
    feasible = [c for c in candidates if _feasible(c)]
    if not feasible:
        assert result == [*route, new]
        return
    assert result.index(new) >= lowest
    assert _feasible(result)
    assert _distance(result, back=back) == min(_distance(c, back=back) for c in feasible)


def test_insertion_prefers_a_feasible_detour_over_a_cheap_late_position() -> None:
    """A stop due soon goes first even though appending it would be shorter."""
    near, far = (13.41, 52.50), (13.49, 52.50)
    route = [StopInput("far", far)]
    urgent = StopInput("near", near, scheduled_at=T0 + timedelta(minutes=5))
    result = insert_cheapest(route, urgent, first_free=0, start=HOME, depart_at=T0,
                             travel=TRAVEL, return_to_start=False)
    assert [s.key for s in result] == ["near", "far"]
    # Behind a stop that must stay first, the same order can only be appended (late).
    result = insert_cheapest(route, urgent, first_free=1, start=HOME, depart_at=T0,
                             travel=TRAVEL, return_to_start=False)
    assert [s.key for s in result] == ["far", "near"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(points, min_size=2, max_size=5, unique=True), st.booleans(), st.booleans())
def test_optimisation_finds_the_shortest_tour(
    locations: list[Point], known_start: bool, back: bool
) -> None:
    """Without windows the solver's sequence is as short as the best permutation."""
    stops = [StopInput(key=f"s{i}", location=loc) for i, loc in enumerate(locations)]
    start = HOME if known_start else None
    result = optimise_order(stops, start=start, depart_at=T0, travel=TRAVEL,
                            return_to_start=back, time_budget_s=1.0, seed=1)
    assert sorted(s.key for s in result) == sorted(s.key for s in stops)
    best = min(_distance(list(p), start=start, back=back and known_start)
               for p in itertools.permutations(stops))
    assert _distance(result, start=start, back=back and known_start) == best


def test_optimisation_keeps_windows_when_it_can() -> None:
    """A far stop due early comes first although the shortest tour would visit it last."""
    # a and b lie west of home, far lies east: the shortest tour does the west first.
    stops = [
        StopInput("a", (13.39, 52.50)), StopInput("b", (13.38, 52.50)),
        StopInput("far", (13.48, 52.50), scheduled_at=T0 + timedelta(minutes=15)),
    ]
    result = optimise_order(stops, start=HOME, depart_at=T0, travel=TRAVEL,
                            return_to_start=False, time_budget_s=1.0, seed=1)
    assert result[0].key == "far"
    assert _feasible(result)
    # Once nothing can be on time, the shortest tour wins (and carries the delay).
    impossible = [*stops[:2], StopInput("far", (13.48, 52.50), scheduled_at=T0)]
    result = optimise_order(impossible, start=HOME, depart_at=T0, travel=TRAVEL,
                            return_to_start=False, time_budget_s=1.0, seed=1)
    assert result[-1].key == "far"
    assert _distance(result) == min(_distance(list(p))
                                    for p in itertools.permutations(impossible))


def test_departure_is_the_scheduled_start_or_just_in_time() -> None:
    """Scheduled start wins; else now, or later so as to reach the first window as it opens."""
    first = StopInput("a", HOME, scheduled_after=T0 + timedelta(hours=1))
    assert departure([first], scheduled_start_at=T0, now=T0, first_leg_s=600) == T0
    assert departure([first], scheduled_start_at=None, now=T0, first_leg_s=600) == \
        T0 + timedelta(minutes=50)
    late = T0 + timedelta(hours=2)
    assert departure([first], scheduled_start_at=None, now=late, first_leg_s=600) == late
    assert departure([], scheduled_start_at=None, now=T0, first_leg_s=0) == T0
