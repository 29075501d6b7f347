"""The tracking pipeline's own cost for one fix a batch, without the database or the API.

A phone sending one fix every few seconds feeds its route a batch of one fix; most such
batches apply no new ETA (they are re-evaluated every 10 s, ``processor.ETA_EVERY_S``) and
some do. This times ``pipeline.process_fixes`` for both kinds on a route of ``--orders``
orders a few kilometres ahead (none reached, none late), with the straight-line travel model
the fleet benchmark uses, and prints the best of ``--repeat`` runs of ``--batches`` batches.

    PYTHONPATH=src .venv/bin/python bench/pipeline_step.py --orders 12
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime, timedelta

from routekeeper.settings import TrackingSettings
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import Geofence
from routekeeper.tracking.engine.pipeline import RouteTrackState, TrackedOrder, process_fixes
from routekeeper.travel.straight import StraightLineModel

START = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
ORIGIN = (24.9384, 60.1699)  # central Helsinki, as the demo data
METRES_PER_DEGREE = 111_320.0
SPEED_MPS = 10.0
FIX_EVERY_S = 2.0


def _east(metres: float, north_m: float = 0.0) -> tuple[float, float]:
    """The point ``metres`` east and ``north_m`` north of ORIGIN."""
    lat = ORIGIN[1] + north_m / METRES_PER_DEGREE
    lon = ORIGIN[0] + metres / (METRES_PER_DEGREE * math.cos(math.radians(ORIGIN[1])))
    return (lon, lat)


def _orders(count: int) -> list[TrackedOrder]:
    """Stops 2 km apart beside the road, due an hour apart (so none is late)."""
    return [TrackedOrder(order_key=f"order-{index}",
                         geofence=Geofence.circle(_east(2000.0 * (index + 1), 300.0)),
                         scheduled_at=START + timedelta(hours=index + 1), service_s=300.0)
            for index in range(count)]


def _fix(index: int) -> Fix:
    at_s = FIX_EVERY_S * index
    lon, lat = _east(SPEED_MPS * at_s)
    return Fix(recorded_at=START + timedelta(seconds=at_s), lon=lon, lat=lat, accuracy_m=5.0,
               speed_mps=SPEED_MPS, bearing_deg=90.0, battery_percent=80.0)


def _run(orders: list[TrackedOrder], batches: int, eta_every_s: float,
         settings: TrackingSettings) -> float:
    """Microseconds a batch of one fix, after the route's first batch."""
    travel = StraightLineModel()
    state = RouteTrackState.start(orders, started_at=START)
    state, _ = process_fixes(state, [_fix(0)], now=START, travel=travel, settings=settings,
                             prescreened=True, eta_every_s=eta_every_s)
    began = time.perf_counter()
    for index in range(1, batches + 1):
        fix = _fix(index)
        state, _ = process_fixes(state, [fix], now=fix.recorded_at, travel=travel,
                                 settings=settings, prescreened=True, eta_every_s=eta_every_s)
    return (time.perf_counter() - began) / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=12)
    parser.add_argument("--batches", type=int, default=100,
                        help="batches a run (2 s of drive each; 100 stay before the first "
                             "stop's ETA)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    settings = TrackingSettings()
    orders = _orders(args.orders)
    # 0: every batch re-evaluates ETAs; a day: only the first one does.
    for label, every_s in (("with new ETAs", 0.0), ("without new ETAs", 86_400.0)):
        best = min(_run(orders, args.batches, every_s, settings) for _ in range(args.repeat))
        print(f"{args.orders} orders, a batch of one fix {label}: {best:.0f} us")


if __name__ == "__main__":
    main()
