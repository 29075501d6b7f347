"""Periodic upkeep of operational state."""

from __future__ import annotations

from routekeeper.core.jobs import JobContext, registry
from routekeeper.core.ratelimit import DatabaseBuckets, now_s


@registry.register("ops.prune_rate_limits", every_s=600)
def prune_rate_limits(ctx: JobContext) -> None:
    """Delete rate-limit buckets that are full again (they act as absent ones)."""
    DatabaseBuckets(ctx.db).prune(now_s())
    with ctx.db.write() as session:
        ctx.complete(session)
