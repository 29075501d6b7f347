"""Tests of ETAs for the remaining stops."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest

from routekeeper.tracking.engine.eta import Stop, estimate_remaining
from routekeeper.travel.base import UNREACHABLE, LonLat, TravelMatrix

from .simulate import ORIGIN, FakeTravel, at, offset

A = offset(ORIGIN, 1000, 0)
B = offset(ORIGIN, 1000, 2000)
C = offset(ORIGIN, 0, 2000)


def stop(key: str, where: tuple[float, float], service_s: float = 0.0, **kw: object) -> Stop:
    """Return a stop with no time window unless given."""
    fields: dict[str, object] = {"scheduled_after": None, "scheduled_at": None}
    fields.update(kw)
    return Stop(key, where, service_s=service_s, **fields)  # type: ignore[arg-type]


def test_sequence_with_service_times_uses_one_matrix_call() -> None:
    """ETAs chain travel and service times; the model is asked once, never leg by leg."""
    travel = FakeTravel(speed_mps=10)
    etas = estimate_remaining(
        ORIGIN, at(0), [stop("A", A, 120), stop("B", B, 60), stop("C", C)], travel
    )
    assert travel.matrix_calls == 1 and travel.leg_calls == 0
    assert [e.order_key for e in etas] == ["A", "B", "C"]
    assert [e.remaining_distance_m for e in etas] == pytest.approx([1000, 3000, 4000], abs=2)
    assert [e.remaining_duration_s for e in etas] == pytest.approx([100, 420, 580], abs=1)
    assert etas[0].arrive_at == at(100) and etas[0].depart_at == at(220)
    for eta in etas:
        assert eta.remaining_duration_s == (eta.arrive_at - at(0)).total_seconds()


def test_waits_for_scheduled_after() -> None:
    """Arriving before scheduled_after waits; service starts at the window opening."""
    travel = FakeTravel(speed_mps=10)
    etas = estimate_remaining(
        ORIGIN,
        at(0),
        [stop("A", A, 120, scheduled_after=at(300)), stop("B", B)],
        travel,
    )
    assert etas[0].arrive_at == at(100) and etas[0].wait_s == 200
    assert etas[0].service_start_at == at(300) and etas[0].depart_at == at(420)
    assert etas[1].arrive_at == at(620) and etas[1].remaining_duration_s == 620


def test_on_site_stop_counts_remaining_service_only() -> None:
    """Being on site at A for 100 s of its 300 s service delays B by the remaining 200 s."""
    travel = FakeTravel(speed_mps=10)
    etas = estimate_remaining(
        A,
        at(1000),
        [stop("A", A, 300, on_site=True, on_site_since_at=at(900)), stop("B", B)],
        travel,
    )
    assert etas[0].arrive_at == at(1000) and etas[0].remaining_distance_m == 0
    assert etas[0].depart_at == at(1200)
    assert etas[1].arrive_at == at(1400)
    overstayed = estimate_remaining(
        A, at(2000), [stop("A", A, 300, on_site=True, on_site_since_at=at(900))], travel
    )
    assert overstayed[0].depart_at == at(2000)


def test_arrival_never_before_at_and_empty_route() -> None:
    """A stop at the position arrives at `at`; no stops means no travel call."""
    travel = FakeTravel()
    etas = estimate_remaining(A, at(5), [stop("A", A)], travel)
    assert etas[0].arrive_at == at(5) and etas[0].remaining_duration_s == 0
    assert estimate_remaining(A, at(5), [], travel) == [] and travel.matrix_calls == 1


def test_naive_time_is_refused() -> None:
    """A naive `at` is a programming error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        estimate_remaining(A, at(0).replace(tzinfo=None), [stop("A", A)], FakeTravel())


def test_late_window_does_not_move_arrival() -> None:
    """scheduled_at does not change the estimate; only scheduled_after causes waiting."""
    travel = FakeTravel(speed_mps=10)
    etas = estimate_remaining(ORIGIN, at(0), [stop("A", A, scheduled_at=at(50))], travel)
    assert etas[0].arrive_at == at(0) + timedelta(seconds=100)


class _NoRoadTo(FakeTravel):
    """A model with a matrix only (no pairs) that finds no road into one point."""

    def __init__(self, cut_off: tuple[float, float]) -> None:
        super().__init__(speed_mps=10)
        self.cut_off = cut_off

    def matrix(self, origins: Sequence[LonLat], destinations: Sequence[LonLat]) -> TravelMatrix:
        cells = super().matrix(origins, destinations)
        unreachable = np.array([[d == self.cut_off for d in destinations] for _ in origins])
        return TravelMatrix(
            distance_m=np.where(unreachable, UNREACHABLE, cells.distance_m),
            duration_s=np.where(unreachable, UNREACHABLE, cells.duration_s),
            unreachable=unreachable)


def test_no_eta_for_a_stop_without_a_road_or_any_after_it() -> None:
    """A leg the model finds no road for ends the ETAs there: the stops before it keep
    theirs, it and the later ones get none (rather than invented ones)."""
    travel = _NoRoadTo(B)
    etas = estimate_remaining(ORIGIN, at(0), [stop("A", A), stop("B", B), stop("C", C)],
                              travel)
    assert [e.order_key for e in etas] == ["A"]
    assert etas[0].remaining_distance_m == pytest.approx(1000, abs=2)
    assert travel.matrix_calls == 1
