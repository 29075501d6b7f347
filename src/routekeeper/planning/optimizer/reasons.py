"""Reasons for unassigned jobs, worded exactly as the HyperTrack Orders API words them."""

from __future__ import annotations

NO_WORKER = "No Worker was available for this plan."
NO_SKILLED_WORKER = "No Worker supports the required product type for this order."
NO_SCHEDULE_OVERLAP = "No Worker schedule overlaps with this order's time window."
EXCEEDS_CAPACITY = "Assigning this order would exceed route or Worker capacity."
UNREACHABLE_BEFORE_LATE = "No Worker can reach this order before scheduled_at."
EXCEEDS_SHIFT_END = "Assigning this order would exceed the Worker's shift end time."
EXCEEDS_MAX_DISTANCE = "Assigning this order would exceed the configured maximum route distance."
# An order at a place that is closed on the plan's day, or open only outside its window.
PLACE_CLOSED = "Automated planning could not assign this order with the provided constraints."
DROPPED_FOR_PLAN = (
    "The optimizer dropped this order to satisfy planning constraints for the overall plan."
)

# In the order diagnose() tests them; the last one is the fallback.
ALL_REASONS: tuple[str, ...] = (
    NO_WORKER,
    NO_SKILLED_WORKER,
    NO_SCHEDULE_OVERLAP,
    EXCEEDS_CAPACITY,
    UNREACHABLE_BEFORE_LATE,
    EXCEEDS_SHIFT_END,
    EXCEEDS_MAX_DISTANCE,
    DROPPED_FOR_PLAN,
)
