"""Pure tests of route estimates: worked examples and properties that hold for any route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routekeeper.routes.estimates import RouteEstimate, StopInput, estimate_route
from routekeeper.routes.sequencing import meets_deadlines
from routekeeper.travel import StraightLineModel
from tests.routes.helpers import Point, leg

TRAVEL = StraightLineModel(detour_factor=1.3, speed_kmh=30.0)
T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

points = st.tuples(st.floats(13.30, 13.50), st.floats(52.45, 52.55))


@st.composite
def feasible_routes(draw: st.DrawFn) -> tuple[Point | None, list[StopInput], datetime]:
    """A start, stops and a departure that keeps every deadline: deadlines are drawn as the
    arrival at that departure plus some slack (some stops have none)."""
    start = draw(st.none() | points)
    locations = draw(st.lists(points, min_size=1, max_size=6))
    depart = T0 + timedelta(seconds=draw(st.integers(0, 3_600)))
    plain = [
        StopInput(key=str(i), location=loc, service_s=draw(st.integers(0, 1_200)),
                  scheduled_after=(T0 + timedelta(seconds=draw(st.integers(0, 7_200)))
                                   if draw(st.booleans()) else None))
        for i, loc in enumerate(locations)
    ]
    timed = estimate_route(start=start, stops=plain, depart_at=depart, travel=TRAVEL)
    stops = []
    for stop, est in zip(plain, timed.stops, strict=True):
        due = None
        if draw(st.booleans()):
            due = est.arrive_at + timedelta(seconds=draw(st.integers(0, 3_600)))
            if stop.scheduled_after is not None and due < stop.scheduled_after:
                due = stop.scheduled_after  # a window never closes before it opens
        stops.append(StopInput(key=stop.key, location=stop.location, service_s=stop.service_s,
                               scheduled_after=stop.scheduled_after, scheduled_at=due))
    return start, stops, depart


def _at(start: Point | None, stops: list[StopInput], depart: datetime,
        *, back: bool = False) -> RouteEstimate:
    return estimate_route(start=start, stops=stops, depart_at=depart, travel=TRAVEL,
                          return_to_start=back)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_routes(), st.booleans())
def test_arrivals_never_go_backwards_and_waits_are_never_negative(
    case: tuple[Point | None, list[StopInput], datetime], back: bool
) -> None:
    """Arrivals are non-decreasing, waits and service never negative, totals add up."""
    start, stops, depart = case
    estimate = _at(start, stops, depart, back=back)
    arrivals = [s.arrive_at for s in estimate.stops]
    assert arrivals == sorted(arrivals)
    assert arrivals[0] >= depart
    for stop, est in zip(stops, estimate.stops, strict=True):
        assert est.wait_s >= 0
        assert est.service_start_at >= (stop.scheduled_after or est.arrive_at)
        assert est.departure_at == est.service_start_at + timedelta(seconds=stop.service_s)
    legs = sum(s.distance_m for s in estimate.stops)
    seconds = sum(s.duration_s for s in estimate.stops)
    if back:
        # Without a known start the route begins, and so ends, at its first stop.
        origin = start if start is not None else stops[0].location
        home_m, home_s = leg(stops[-1].location, origin)
        assert abs(estimate.distance_m - legs - home_m) <= 1  # rounding of the numpy path
        assert abs(estimate.duration_s - seconds - home_s) <= 1
        assert estimate.end_location == origin
    else:
        assert (estimate.distance_m, estimate.duration_s) == (legs, seconds)
        assert estimate.end_location == stops[-1].location
    assert estimate.polyline[0] == estimate.start_location
    assert estimate.polyline[-1] == estimate.end_location


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_routes())
def test_start_by_is_the_latest_departure_that_keeps_every_deadline(
    case: tuple[Point | None, list[StopInput], datetime]
) -> None:
    """Leaving at start_by meets every deadline; leaving one second later misses one."""
    start, stops, depart = case
    estimate = _at(start, stops, depart)
    if all(s.scheduled_at is None for s in stops):
        assert estimate.start_by is None
        return
    assert estimate.start_by is not None
    assert estimate.start_by >= depart  # the drawn departure keeps them, so start_by is later
    on_time = _at(start, stops, estimate.start_by)
    assert meets_deadlines(on_time, stops)
    assert not meets_deadlines(_at(start, stops, estimate.start_by + SECOND), stops)
    # start_by depends on the deadlines, not on the departure it was computed with.
    assert on_time.start_by == estimate.start_by
    assert estimate.start_by == estimate.stops[0].start_by


@settings(max_examples=100, deadline=None)
@given(feasible_routes())
def test_each_stop_start_by_is_a_latest_arrival_minus_its_leg(
    case: tuple[Point | None, list[StopInput], datetime]
) -> None:
    """A stop's start_by plus its leg is never after its own deadline, and reaching it
    then still keeps every later deadline."""
    start, stops, depart = case
    estimate = _at(start, stops, depart)
    for index, (stop, est) in enumerate(zip(stops, estimate.stops, strict=True)):
        if est.start_by is None:
            assert all(s.scheduled_at is None for s in stops[index:])
            continue
        latest = est.start_by + timedelta(seconds=est.duration_s)
        assert stop.scheduled_at is None or latest <= stop.scheduled_at
        # On a feasible route the window is open by then, so service starts on arrival...
        assert stop.scheduled_after is None or stop.scheduled_after <= latest
        if index + 1 < len(stops):
            # ...and the rest of the route, served from there, stays on time.
            rest = _at(stop.location, stops[index + 1:],
                       latest + timedelta(seconds=stop.service_s))
            assert meets_deadlines(rest, stops[index + 1:])


def test_worked_example_with_a_wait() -> None:
    """Two stops, worked by hand: the window at the first makes the worker wait."""
    home, first, second = (13.40, 52.50), (13.41, 52.50), (13.41, 52.51)
    (_, s1), (_, s2) = leg(home, first), leg(first, second)
    stops = [
        StopInput("a", first, scheduled_after=T0 + timedelta(minutes=20),
                  scheduled_at=T0 + timedelta(minutes=40), service_s=600),
        StopInput("b", second, scheduled_at=T0 + timedelta(minutes=45), service_s=60),
    ]
    estimate = _at(home, stops, T0)
    a, b = estimate.stops
    assert a.arrive_at == T0 + timedelta(seconds=s1)
    assert a.wait_s == 20 * 60 - s1
    assert b.arrive_at == T0 + timedelta(minutes=30, seconds=s2)
    # b's deadline, less b's leg and a's service, bounds the arrival at a below its own.
    assert estimate.start_by == T0 + timedelta(minutes=35, seconds=-s2 - s1)
    assert b.start_by == T0 + timedelta(minutes=45, seconds=-s2)


def test_without_a_start_the_route_begins_at_its_first_stop() -> None:
    """No start location: the first leg is empty and the polyline begins at the first stop."""
    stops = [StopInput("a", (13.41, 52.50)), StopInput("b", (13.42, 52.50))]
    estimate = _at(None, stops, T0)
    assert estimate.start_location == (13.41, 52.50)
    assert (estimate.stops[0].distance_m, estimate.stops[0].arrive_at) == (0, T0)
    assert estimate.polyline == [(13.41, 52.50), (13.41, 52.50), (13.42, 52.50)]
    assert estimate.start_by is None


def test_an_empty_route_has_nothing_to_drive() -> None:
    """No stops: zero distance and duration, the start as both ends."""
    estimate = _at((13.4, 52.5), [], T0, back=True)
    assert (estimate.distance_m, estimate.duration_s, estimate.stops) == (0, 0, [])
    assert estimate.end_location == (13.4, 52.5)
    assert estimate.start_by is None
