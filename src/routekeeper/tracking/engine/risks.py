"""Per-order risk labels (green / yellow / red) and their ``risk_updated`` diff.

Every risk is a pure function of numbers the pipeline already has; thresholds are the module
constants below (documented with their reasons in ``docs/tracking.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence

DELAYED_FROM_SCHEDULED_AT = "delayed_from_scheduled_at"
DELAYED_FROM_INITIAL_ETA = "delayed_from_initial_eta"
IS_OFFLINE = "is_offline"
MOVING_AWAY_FROM_DESTINATION = "moving_away_from_destination"
IN_LOW_BATTERY = "in_low_battery"

# delayed_from_scheduled_at: green when the ETA is not after scheduled_at, yellow up to the grace,
# red beyond; the intensity reaches 1 at the saturation delay.
SCHEDULED_GRACE_S = 300.0
SCHEDULED_SATURATION_S = 1800.0
# delayed_from_initial_eta: ETAs wobble, so a few minutes of slip stay green.
INITIAL_ETA_GREEN_S = 300.0
INITIAL_ETA_YELLOW_S = 900.0
INITIAL_ETA_SATURATION_S = 3600.0
# moving_away_from_destination: look at up to this many recent fixes within this window...
MOVING_AWAY_WINDOW_FIXES = 6
MOVING_AWAY_WINDOW_S = 600.0
MOVING_AWAY_MIN_FIXES = 3
# ...and label by how far the distance grew beyond the two fixes' combined accuracy.
MOVING_AWAY_YELLOW_M = 100.0
MOVING_AWAY_RED_M = 300.0
MOVING_AWAY_SATURATION_M = 1000.0
# in_low_battery: red below settings.low_battery_percent, yellow this many points above it.
LOW_BATTERY_YELLOW_MARGIN_PERCENT = 10.0


# The three intensity labels of the Orders API.
RiskLabel = StrEnum("RiskLabel", "GREEN YELLOW RED")
# Each label's text, looked up by a dict rather than the enum's ``value`` descriptor: every
# stored state dumps six risks an order (StoredRisk).
_LABEL_TEXT = {label: label.value for label in RiskLabel}


@dataclass(frozen=True, slots=True)
class Risk:
    """One risk's label and intensity value (0 for green, up to 1 for the worst red)."""

    label: RiskLabel
    value: float

    def to_dict(self) -> dict[str, Any]:
        """Return the Orders API form ``{intensity_label, intensity_value}``."""
        return {"intensity_label": _LABEL_TEXT[self.label], "intensity_value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Risk:
        """Rebuild from :meth:`to_dict` output."""
        return cls(RiskLabel(data["intensity_label"]), float(data["intensity_value"]))


GREEN = Risk(RiskLabel.GREEN, 0.0)


def _stored_risk(value: Any) -> Risk:
    return value if isinstance(value, Risk) else Risk.from_dict(value)


StoredRisk = Annotated[Risk, PlainValidator(_stored_risk), PlainSerializer(Risk.to_dict)]
"""A risk in stored tracking state (``engine.codec``): its Orders API form."""


def _clamp01(value: float) -> float:
    """Clamp to [0, 1] and round to three decimals."""
    return round(max(0.0, min(1.0, value)), 3)


def _graded(label: RiskLabel, excess: float, saturation: float) -> Risk:
    """Build a non-green risk whose value grows with ``excess`` up to ``saturation``."""
    if label is RiskLabel.GREEN:
        return GREEN
    # Keep a visible floor so that a yellow or red never reports intensity 0.
    return Risk(label, max(0.01, _clamp01(excess / saturation)))


def delay_risk(eta_at: datetime | None, scheduled_at: datetime | None) -> Risk:
    """Label an ETA (or actual arrival) against ``scheduled_at``: on time, within grace, late."""
    if eta_at is None or scheduled_at is None:
        return GREEN
    late_s = (eta_at - scheduled_at).total_seconds()
    if late_s <= 0.0:
        return GREEN
    label = RiskLabel.YELLOW if late_s <= SCHEDULED_GRACE_S else RiskLabel.RED
    return _graded(label, late_s, SCHEDULED_SATURATION_S)


def initial_eta_risk(eta_at: datetime | None, initial_eta_at: datetime | None) -> Risk:
    """Label how far the current ETA (or actual arrival) slipped behind the first ETA."""
    if eta_at is None or initial_eta_at is None:
        return GREEN
    slip_s = (eta_at - initial_eta_at).total_seconds()
    if slip_s <= INITIAL_ETA_GREEN_S:
        return GREEN
    label = RiskLabel.YELLOW if slip_s <= INITIAL_ETA_YELLOW_S else RiskLabel.RED
    return _graded(label, slip_s, INITIAL_ETA_SATURATION_S)


def offline_risk(
    last_fix_at: datetime | None, since_at: datetime, now: datetime, *, offline_after_s: float
) -> Risk:
    """Red when no fix arrived for ``offline_after_s`` (counted from ``since_at`` before any)."""
    reference = last_fix_at if last_fix_at is not None else since_at
    if (now - reference).total_seconds() > offline_after_s:
        return Risk(RiskLabel.RED, 1.0)
    return GREEN


def moving_away_risk(recent: Sequence[Fix], geofence: Geofence) -> Risk:
    """Label whether the distance to the destination grew over the last few fixes beyond noise.

    Compares the newest fix with the closest earlier fix in the window; the growth must exceed
    both fixes' accuracy plus the yellow (100 m) or red (300 m) margin.
    """
    if not recent:
        return GREEN
    newest = recent[-1]
    window = [
        f
        for f in recent[-MOVING_AWAY_WINDOW_FIXES:]
        if (newest.recorded_at - f.recorded_at).total_seconds() <= MOVING_AWAY_WINDOW_S
    ]
    if len(window) < MOVING_AWAY_MIN_FIXES:
        return GREEN
    closest = min(window[:-1], key=lambda f: geofence.signed_distance_m(f.lonlat))
    previous = window[-2]
    growth_m = geofence.signed_distance_m(newest.lonlat) - geofence.signed_distance_m(
        closest.lonlat
    )
    noise_m = newest.accuracy_or_assumed_m + closest.accuracy_or_assumed_m
    still_receding = geofence.signed_distance_m(newest.lonlat) >= geofence.signed_distance_m(
        previous.lonlat
    ) - (newest.accuracy_or_assumed_m + previous.accuracy_or_assumed_m)
    excess_m = growth_m - noise_m
    if not still_receding or excess_m <= MOVING_AWAY_YELLOW_M:
        return GREEN
    label = RiskLabel.YELLOW if excess_m <= MOVING_AWAY_RED_M else RiskLabel.RED
    return _graded(label, excess_m, MOVING_AWAY_SATURATION_M)


def battery_risk(battery_percent: float | None, *, low_battery_percent: float) -> Risk:
    """Red below ``low_battery_percent``, yellow within 10 points above it, green otherwise."""
    if battery_percent is None:
        return GREEN
    yellow_below = low_battery_percent + LOW_BATTERY_YELLOW_MARGIN_PERCENT
    if battery_percent >= yellow_below:
        return GREEN
    label = RiskLabel.RED if battery_percent < low_battery_percent else RiskLabel.YELLOW
    return _graded(label, yellow_below - battery_percent, yellow_below)


def risk_status(risks: Mapping[str, Risk]) -> bool:
    """Return True when any risk is not green (the Orders API ``risk_status``)."""
    return any(r.label is not RiskLabel.GREEN for r in risks.values())


def risk_labels(risks: Mapping[str, Risk]) -> dict[str, str]:
    """Each risk's label text: the order row's ``risks``, built for every open order of a
    route on every batch (hence the lookup rather than the enum's ``value``)."""
    return {name: _LABEL_TEXT[risk.label] for name, risk in risks.items()}


def risks_to_dict(risks: Mapping[str, Risk]) -> dict[str, Any]:
    """Return the Orders API ``risks`` object: each risk plus ``risk_status``."""
    out: dict[str, Any] = {name: risk.to_dict() for name, risk in risks.items()}
    out["risk_status"] = risk_status(risks)
    return out


def risk_diff(
    previous: Mapping[str, Risk] | None, current: Mapping[str, Risk]
) -> dict[str, dict[str, Any]]:
    """Return the ``risk_updated`` payload: risks whose label changed, with the previous label.

    A risk seen for the first time counts as changed only when it is not green (an order starts
    green); the result is empty when nothing changed.
    """
    before = previous or {}
    out: dict[str, dict[str, Any]] = {}
    for name, risk in current.items():
        old = before.get(name)
        old_label = old.label if old is not None else RiskLabel.GREEN
        if risk.label is old_label:
            continue
        out[name] = {
            "intensity_label": risk.label.value,
            "intensity_value": risk.value,
            "previous_intensity_label": old_label.value,
        }
    return out
