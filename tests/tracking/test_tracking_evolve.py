"""engine.evolve: the same copies as dataclasses.replace, for the engine's frozen state."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routekeeper.tracking.engine.arrival import VisitState
from routekeeper.tracking.engine.evolve import evolve
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import OrderTrack, TrackedOrder

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)
TRACK = OrderTrack(order=TrackedOrder(
    order_key="o1", geofence=Geofence.from_destination(
        {"geometry": {"type": "Point", "coordinates": [24.94, 60.17]}, "radius": 50})))


@given(seconds=st.integers(0, 86_400), metres=st.floats(0, 1e6), sent=st.booleans())
def test_evolve_makes_the_copy_replace_makes(seconds: int, metres: float, sent: bool) -> None:
    at = T0 + timedelta(seconds=seconds)
    changes = {"eta_at": at, "remaining_distance_m": metres, "n_minutes_away_sent": sent,
               "visit": VisitState(last_fix_at=at)}
    copy = evolve(TRACK, **changes)
    assert copy == replace(TRACK, **changes)  # type: ignore[arg-type]
    assert copy is not TRACK and type(copy) is OrderTrack
    assert TRACK.eta_at is None  # the original is untouched
    fix = Fix(recorded_at=at, lon=24.9, lat=60.1)
    assert evolve(fix, accuracy_m=metres) == replace(fix, accuracy_m=metres)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field 'eta'"):
        evolve(TRACK, eta=T0)


@dataclass(frozen=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def test_a_class_with_its_own_checks_still_runs_them() -> None:
    assert evolve(_Checked(1), value=2) == _Checked(2)
    with pytest.raises(ValueError, match="negative"):
        evolve(_Checked(1), value=-1)


@dataclass(frozen=True)
class _Unslotted:
    value: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class _NamedLikeTheCopier:
    obj: int
    new: int = 0


@dataclass(frozen=True, slots=True)
class _Base:
    first: int


@dataclass(frozen=True, slots=True)
class _Derived(_Base):
    second: int = 0


@given(a=st.integers(), b=st.integers())
def test_every_kind_of_dataclass_gets_the_copy_replace_makes(a: int, b: int) -> None:
    """Slots inherited from a base, fields without slots, and fields named like the written
    copier's own names (those classes go through replace)."""
    for original, changes in ((_Unslotted(a), {"note": str(b)}),
                              (_NamedLikeTheCopier(a), {"new": b}),
                              (_Derived(a, b), {"first": b}),
                              (_Derived(a, b), {"second": a})):
        copy = evolve(original, **changes)
        assert copy == replace(original, **changes)  # type: ignore[type-var]
        assert type(copy) is type(original) and copy is not original
