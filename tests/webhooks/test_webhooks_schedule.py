"""How outcomes are judged and when retries fall due."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routekeeper.settings import WebhookSettings
from routekeeper.webhooks.delivery import JITTER, Outcome, classify, next_attempt_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (299, Outcome.DELIVERED),
        (400, Outcome.REJECTED), (401, Outcome.REJECTED), (404, Outcome.REJECTED),
        (410, Outcome.REJECTED), (499, Outcome.REJECTED), (408, Outcome.RETRY),
        (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY),
        (301, Outcome.RETRY), (302, Outcome.RETRY), (100, Outcome.RETRY),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    """2xx delivers, 4xx (but 408/429) rejects for good, everything else is retried."""
    assert classify(status) is outcome


def test_default_schedule_retries_within_30s_and_covers_72h() -> None:
    """The default schedule's first retry is within 30 s and its last beyond 72 hours."""
    schedule = WebhookSettings().retry_schedule_s
    rng = random.Random(7)
    times = []
    for attempts in range(1, len(schedule) + 1):
        at = next_attempt_at(T0, attempts, schedule, now=T0, rng=rng)
        assert at is not None
        times.append(at)
    assert (times[0] - T0).total_seconds() <= 30
    assert times[-1] - T0 > timedelta(hours=72)
    assert times == sorted(times)
    assert next_attempt_at(T0, len(schedule) + 1, schedule, now=T0) is None


def test_jitter_only_delays_within_its_bound() -> None:
    """Each retry lands between its offset and JITTER later."""
    rng = random.Random(1)
    for _ in range(200):
        at = next_attempt_at(T0, 3, [10, 20, 40], now=T0, rng=rng)
        assert at is not None
        assert 40 <= (at - T0).total_seconds() <= 40 * (1 + JITTER)


def test_a_late_attempt_still_waits_the_schedule_gap() -> None:
    """After a backlog the next retry keeps its spacing instead of firing at once."""
    late = T0 + timedelta(hours=2)
    at = next_attempt_at(T0, 2, [10, 70, 600], now=late, rng=random.Random(3))
    assert at is not None
    assert 60 <= (at - late).total_seconds() <= 60 * (1 + JITTER)
