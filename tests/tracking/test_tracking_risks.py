"""Tests of risk labels and the risk_updated diff."""

from __future__ import annotations

import pytest

from routekeeper.tracking.engine import risks as rk
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.risks import Risk, RiskLabel

from .simulate import ORIGIN, at, offset

GEOFENCE = Geofence.circle(ORIGIN, 50)


def label(risk: Risk) -> str:
    """Return the label value."""
    return risk.label.value


@pytest.mark.parametrize(
    ("late_s", "expected"),
    [(-600, "green"), (0, "green"), (1, "yellow"), (300, "yellow"), (301, "red"), (7200, "red")],
)
def test_delay_from_scheduled_at(late_s: int, expected: str) -> None:
    """On time is green, within the 5-minute grace yellow, beyond it red."""
    risk = rk.delay_risk(at(late_s), at(0))
    assert label(risk) == expected
    assert 0.0 <= risk.value <= 1.0
    assert (risk.value == 0.0) == (expected == "green")


def test_delay_intensity_saturates() -> None:
    """The intensity grows with the delay and reaches 1 at 30 minutes."""
    values = [rk.delay_risk(at(s), at(0)).value for s in (60, 600, 1200, 1800, 5000)]
    assert values == sorted(values) and values[-2] == values[-1] == 1.0


def test_missing_times_are_green() -> None:
    """Without an ETA or a scheduled_at there is nothing to be late for."""
    assert rk.delay_risk(None, at(0)) == rk.GREEN == rk.delay_risk(at(0), None)
    assert rk.initial_eta_risk(at(0), None) == rk.GREEN


@pytest.mark.parametrize(("slip_s", "expected"), [(300, "green"), (301, "yellow"), (901, "red")])
def test_delay_from_initial_eta(slip_s: int, expected: str) -> None:
    """A slip of up to 5 minutes from the first ETA is normal wobble; 15 minutes is red."""
    assert label(rk.initial_eta_risk(at(slip_s), at(0))) == expected


def test_offline() -> None:
    """Offline after offline_after_s without a fix, counted from the start before any fix."""
    assert label(rk.offline_risk(at(0), at(-100), at(600), offline_after_s=600)) == "green"
    assert label(rk.offline_risk(at(0), at(-100), at(601), offline_after_s=600)) == "red"
    assert label(rk.offline_risk(None, at(0), at(700), offline_after_s=600)) == "red"


def test_battery() -> None:
    """Below the threshold is red, within 10 points above it yellow, the rest green."""
    assert rk.battery_risk(None, low_battery_percent=15) == rk.GREEN
    assert label(rk.battery_risk(40, low_battery_percent=15)) == "green"
    assert label(rk.battery_risk(20, low_battery_percent=15)) == "yellow"
    red = rk.battery_risk(5, low_battery_percent=15)
    assert label(red) == "red" and red.value == pytest.approx(0.8)


def line(distances: list[float], accuracy: float = 10.0, step_s: float = 10.0) -> list[Fix]:
    """Return fixes north of the destination at the given distances."""
    out = []
    for i, d in enumerate(distances):
        lon, lat = offset(ORIGIN, 0, d)
        out.append(Fix(at(i * step_s), lon, lat, accuracy_m=accuracy))
    return out


def test_moving_away() -> None:
    """Growing distance beyond noise is yellow then red; approaching or jitter stays green."""
    assert label(rk.moving_away_risk(line([1000, 900, 800, 700]), GEOFENCE)) == "green"
    assert label(rk.moving_away_risk(line([500, 520, 490, 530, 510, 540]), GEOFENCE)) == "green"
    assert label(rk.moving_away_risk(line([500, 560, 650]), GEOFENCE)) == "yellow"
    assert label(rk.moving_away_risk(line([500, 700, 900]), GEOFENCE)) == "red"
    assert label(rk.moving_away_risk(line([500, 900]), GEOFENCE)) == "green"  # too few fixes
    # Turned around: the newest fix is closer again than the one before.
    assert label(rk.moving_away_risk(line([500, 900, 700]), GEOFENCE)) == "green"
    # Spread over more than the window: only the recent part counts.
    assert label(rk.moving_away_risk(line([500, 700, 900], step_s=400), GEOFENCE)) == "green"


def test_poor_accuracy_is_noise() -> None:
    """A 200 m growth between two 100 m-accurate fixes is within noise."""
    assert label(rk.moving_away_risk(line([500, 600, 700], accuracy=100), GEOFENCE)) == "green"


def test_risk_status_and_object() -> None:
    """risk_status is true when any risk is not green; the object carries it."""
    risks = {rk.IS_OFFLINE: rk.GREEN, rk.IN_LOW_BATTERY: Risk(RiskLabel.YELLOW, 0.3)}
    assert rk.risk_status(risks)
    assert not rk.risk_status({rk.IS_OFFLINE: rk.GREEN})
    assert rk.risks_to_dict(risks) == {
        "is_offline": {"intensity_label": "green", "intensity_value": 0.0},
        "in_low_battery": {"intensity_label": "yellow", "intensity_value": 0.3},
        "risk_status": True,
    }


def test_risk_diff_webhook_form() -> None:
    """Only changed labels appear, with the previous label; new risks start from green."""
    before = {rk.IS_OFFLINE: rk.GREEN, rk.IN_LOW_BATTERY: Risk(RiskLabel.YELLOW, 0.2)}
    after = {
        rk.IS_OFFLINE: Risk(RiskLabel.RED, 1.0),
        rk.IN_LOW_BATTERY: Risk(RiskLabel.YELLOW, 0.4),
        rk.DELAYED_FROM_SCHEDULED_AT: rk.GREEN,
    }
    assert rk.risk_diff(before, after) == {
        "is_offline": {
            "intensity_label": "red",
            "intensity_value": 1.0,
            "previous_intensity_label": "green",
        }
    }
    assert rk.risk_diff(None, {rk.IS_OFFLINE: rk.GREEN}) == {}
    assert rk.risk_diff(after, before)["is_offline"]["previous_intensity_label"] == "red"
    assert Risk.from_dict(after[rk.IS_OFFLINE].to_dict()) == after[rk.IS_OFFLINE]
