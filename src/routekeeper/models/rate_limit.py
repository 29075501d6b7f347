"""Rate-limit buckets shared by every process (PostgreSQL installs)."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base


class RateLimitBucket(Base):
    """One token bucket, kept as the time it will be full again (GCRA's theoretical arrival
    time, in Unix seconds): one number per key, updated by one statement per request."""

    __tablename__ = "rate_limit_bucket"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat_s: Mapped[float] = mapped_column(Float)
