"""The tracking fixtures, for the day's scenario."""

from tests.tracking.conftest import track_clock, travel

__all__ = ["track_clock", "travel"]
