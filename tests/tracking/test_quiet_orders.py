"""What lets the processor skip an order's sync (``RouteOrders.quiet``): a sync of the same
track and row that changed nothing changes nothing later either, until ``_quiet_until``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from routekeeper.models.route import Route
from routekeeper.tracking.apply import _new_estimate, _quiet_until
from routekeeper.tracking.engine.fixes import format_utc_ms
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import OrderTrack, TrackedOrder
from routekeeper.tracking.routeorders import KeptOrders, OrderRow, RouteOrders

T0 = datetime(2030, 1, 1, 8, tzinfo=UTC)
_SECONDS = st.floats(min_value=-600, max_value=3600, allow_nan=False)


def _track(eta_s: float | None, distance_m: float) -> OrderTrack:
    order = TrackedOrder("o", Geofence.circle((24.9, 60.17), 50.0))
    eta = None if eta_s is None else T0 + timedelta(seconds=eta_s)
    return OrderTrack(order=order, eta_at=eta, initial_eta_at=T0,
                      remaining_distance_m=distance_m, remaining_duration_s=600.0)


def _row(stored_s: float | None, distance_m: int) -> OrderRow:
    estimate = None if stored_s is None else {
        "arrive_at": format_utc_ms(T0 + timedelta(seconds=stored_s)),
        "initial_arrive_at": format_utc_ms(T0), "remaining_distance": distance_m,
        "remaining_duration": 600, "distance": distance_m, "duration": 600}
    return OrderRow("o", "o", "ongoing", {}, None, None, None, None, None, None, None,
                    estimate, None, False)


@given(eta_s=st.one_of(st.none(), _SECONDS), stored_s=st.one_of(st.none(), _SECONDS),
       distance_m=st.integers(0, 20_000), stored_m=st.integers(0, 20_000),
       first_s=_SECONDS, later_s=st.floats(min_value=0, max_value=3600, allow_nan=False),
       heading=st.booleans())
def test_an_estimate_left_alone_stays_alone_until_the_quiet_ends(
        eta_s: float | None, stored_s: float | None, distance_m: int, stored_m: int,
        first_s: float, later_s: float, heading: bool) -> None:
    track, row = _track(eta_s, distance_m), _row(stored_s, stored_m)
    first = T0 + timedelta(seconds=first_s)
    if _new_estimate(row.estimate, track, None, first, next_order=heading) is not None:
        return  # it changed something: nothing is remembered
    until = _quiet_until(track, row)
    later = first + timedelta(seconds=later_s)
    if until is None or later < until:
        assert _new_estimate(row.estimate, track, None, later, next_order=heading) is None


def test_a_quiet_sync_is_remembered_for_the_same_objects_only() -> None:
    track, row = _track(600, 1000), _row(610, 1000)
    orders = RouteOrders(None, Route(account_id="a", route_handle="r"),  # type: ignore[arg-type]
                         kept=KeptOrders((row,), {}))
    until = _quiet_until(track, row)
    assert until == T0 + timedelta(seconds=600)
    orders.note_quiet(track, row, True, until)
    assert orders.quiet(track, row, True, T0)
    assert not orders.quiet(track, row, True, until)  # the ETA has come: sync again
    assert not orders.quiet(track, row, False, T0)  # another order is headed for now
    assert not orders.quiet(_track(600, 1000), row, True, T0)  # an equal, new track
    assert not orders.quiet(track, _row(610, 1000), True, T0)  # a row read again
    # Kept with the rows: the route's next batch finds it.
    again = RouteOrders(None, Route(account_id="a", route_handle="r"),  # type: ignore[arg-type]
                        kept=orders.kept())
    assert again.quiet(track, row, True, T0)
