"""The one place that reads the wall clock, so tests and jobs agree on "now"."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current instant as an aware UTC datetime, truncated to milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)
