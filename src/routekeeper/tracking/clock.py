"""The tracking domain's clock: every "now" of ingestion and the periodic job comes from here.

One seam, so that tests can replay an hour-long simulated drive in seconds with the server
believing each upload arrives right after it was recorded.
"""

from __future__ import annotations

from datetime import datetime

from routekeeper.core.clock import utcnow


def now() -> datetime:
    """The current instant (aware UTC, milliseconds)."""
    return utcnow()
