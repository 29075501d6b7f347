"""``metrics.observe_times`` and ``observe_many`` leave a histogram as that many ``observe``
calls would."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from routekeeper.core.metrics import observe_many, observe_times

_BUCKETS = (0.025, 0.5, 1.0, 2.0, 30.0)
_VALUES = st.one_of(st.sampled_from(_BUCKETS), st.floats(min_value=0.0, max_value=100.0))


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("lag_seconds", "lag", buckets=_BUCKETS, registry=registry)


def _assert_as_observed(observations: list[tuple[float, int]],
                        record: Callable[[Histogram], None]) -> None:
    """``record`` leaves a histogram as one ``observe`` of each value, as many times as
    given, would (the sum may differ in its last digits: value * n against n additions)."""
    one_by_one, one_by_one_histogram = _histogram()
    at_once, at_once_histogram = _histogram()
    for value, times in observations:
        for _ in range(times):
            one_by_one_histogram.observe(value)
    record(at_once_histogram)

    def counts(registry: CollectorRegistry) -> list[str]:
        return [line for line in generate_latest(registry).decode().splitlines()
                if "_sum" not in line and "_created" not in line]

    assert counts(at_once) == counts(one_by_one)
    total = sum(value * times for value, times in observations)
    sums = [sample.value for sample in at_once_histogram.collect()[0].samples
            if sample.name == "lag_seconds_sum"]
    assert sums and abs(sums[0] - total) <= 1e-9 * max(1.0, total)


@given(st.lists(st.tuples(_VALUES, st.integers(min_value=0, max_value=200)), max_size=12))
def test_observing_a_value_n_times_at_once_equals_n_observations(
        observations: list[tuple[float, int]]) -> None:
    def record(histogram: Histogram) -> None:
        for value, times in observations:
            observe_times(histogram, value, times)

    _assert_as_observed(observations, record)


@given(st.lists(st.tuples(_VALUES, st.integers(min_value=0, max_value=50)), max_size=20))
def test_observing_many_values_at_once_equals_their_observations(
        observations: list[tuple[float, int]]) -> None:
    _assert_as_observed(observations, lambda histogram: observe_many(histogram, observations))
