"""The states of a route (contract section 4.2): planned without a worker, assigned to one,
tracking while driven, completed at the end."""

from __future__ import annotations

from enum import StrEnum

# A route's ``status``.
RouteStatus = StrEnum("RouteStatus", "PLANNED ASSIGNED TRACKING COMPLETED")


NOT_STARTED = frozenset({RouteStatus.PLANNED, RouteStatus.ASSIGNED})
"""Routes no worker has started driving: the ones a re-plan may dissolve."""
