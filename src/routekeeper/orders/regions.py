"""Every order's ``region`` (``{city, state, country}``), by reverse geocoding its destination.

A request waits a short while (``geocoding.region_wait_s``) for the regions of its new
orders; those not answered in time (a slow or unreachable geocoder) are filled by the
``orders.regions`` job a moment later, so creating orders never waits on, nor fails because
of, a reverse lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.core.jobs import JobContext, Retry, enqueue, registry
from routekeeper.geocoding.service import Geocoder, geocoder_from_settings
from routekeeper.models.order import Order
from routekeeper.settings import Settings

REGIONS_TASK = "orders.regions"
REGIONS_MAX_ATTEMPTS = 20
# Orders per job: a job's lookups stay within its lease.
JOB_ORDERS = 1000


def assign_regions(
    session: Session, account_id: str, orders: Sequence[Order], *,
    geocoder: Geocoder | None, wait_s: float | None,
) -> int:
    """Fill the missing regions of ``orders`` (waiting at most ``wait_s``) and leave the rest
    to a job in the same transaction; returns how many were left to the job."""
    if geocoder is None:
        return 0
    missing = [o for o in orders if o.region is None and o.destination_lon is not None]
    if not missing:
        return 0
    points = [(float(o.destination_lon or 0.0), float(o.destination_lat or 0.0))
              for o in missing]
    regions = geocoder.regions(session, account_id, points, wait_s=wait_s)
    left: list[Order] = []
    for order, region in zip(missing, regions, strict=True):
        if region is None:
            left.append(order)
        elif region:
            order.region = region
    for start in range(0, len(left), JOB_ORDERS):
        enqueue(session, REGIONS_TASK,
                {"order_ids": [o.id for o in left[start:start + JOB_ORDERS]]},
                account_id=account_id, max_attempts=REGIONS_MAX_ATTEMPTS)
    return len(left)


@registry.register(REGIONS_TASK, max_attempts=REGIONS_MAX_ATTEMPTS)
def fill_regions(ctx: JobContext) -> None:
    """Reverse-geocode the orders of the job that still have no region."""
    settings: Settings = ctx.env["settings"]
    geocoder: Geocoder | None = ctx.env.get("geocoder")
    own = False
    if geocoder is None:
        geocoder = geocoder_from_settings(settings.geocoding)
        own = geocoder is not None
    try:
        with ctx.db.write() as session:
            orders = list(session.scalars(select(Order).where(
                Order.account_id == ctx.account_id,
                Order.id.in_([str(i) for i in ctx.payload.get("order_ids", [])]),
            ))) if geocoder is not None else []
            # A JSON null and SQL NULL both read as None.
            missing = [o for o in orders if o.region is None and o.destination_lon is not None]
            if missing and geocoder is not None:
                regions = geocoder.regions(
                    session, str(ctx.account_id),
                    [(float(o.destination_lon or 0.0), float(o.destination_lat or 0.0))
                     for o in missing], wait_s=None)
                for order, region in zip(missing, regions, strict=True):
                    if region:
                        order.region = region
                if any(region is None for region in regions):
                    # Some lookups failed (the geocoder is down or overloaded): keep what
                    # came back (filling a region twice is harmless) and look the rest up
                    # again later.
                    session.commit()
                    raise Retry(settings.geocoding.retry_after_s, "geocoder unavailable")
            ctx.complete(session)
    finally:
        if own and geocoder is not None:
            geocoder.close()
