"""The demo account's day in central Helsinki: an ops group, three workers and 30 orders.

Every address is a street of the Helsinki OpenStreetMap extract that `make run` prepares
(points within 40 m of a drivable street, all reachable from one another by car), so the
plan, its ETAs and its route lines come from the road network. Street names and positions are
OpenStreetMap data, (c) OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from routekeeper.models.ops_group import OpsGroup
from routekeeper.orders import service as orders
from routekeeper.orders.schemas import OrdersCreate
from routekeeper.planning.service import request_planning
from routekeeper.workers import service as workers
from routekeeper.workers.schemas import OpsGroupCreate, WorkerCreate

GROUP = "helsinki"
TIMEZONE = ZoneInfo("Europe/Helsinki")
# The depot, by the central railway station.
DEPOT = ("Elielinaukio", 24.9403, 60.1711)

STREETS: tuple[tuple[str, float, float], ...] = (
    ("Bulevardi", 24.9371, 60.1645),
    ("Annankatu", 24.9403, 60.1645),
    ("Uudenmaankatu", 24.9419, 60.1645),
    ("Yrjönkatu", 24.9435, 60.1645),
    ("Pieni Roobertinkatu", 24.9451, 60.1645),
    ("Kasarmikatu", 24.9483, 60.1645),
    ("Fabianinkatu", 24.9499, 60.1645),
    ("Unioninkatu", 24.9515, 60.1645),
    ("Eteläranta", 24.9531, 60.1645),
    ("Fredrikinkatu", 24.9355, 60.1656),
    ("Lönnrotinkatu", 24.9371, 60.1656),
    ("Erottajankatu", 24.9435, 60.1656),
    ("Pohjoinen Makasiinikatu", 24.9483, 60.1656),
    ("Eteläesplanadi", 24.9451, 60.1667),
    ("Eerikinkatu", 24.9371, 60.1678),
    ("Pohjoisesplanadi", 24.9435, 60.1678),
    ("Simonkatu", 24.9355, 60.1689),
    ("Aleksanterinkatu", 24.9467, 60.1689),
    ("Mikonkatu", 24.9451, 60.17),
    ("Hallituskatu", 24.9515, 60.17),
    ("Arkadiankatu", 24.9355, 60.1711),
    ("Kaisaniemenkatu", 24.9467, 60.1711),
    ("Kirkkokatu", 24.9499, 60.1711),
    ("Snellmaninkatu", 24.9531, 60.1722),
    ("Vilhonkatu", 24.9467, 60.1722),
    ("Yrjö-Koskisen katu", 24.9499, 60.1733),
    ("Liisankatu", 24.9515, 60.1744),
    ("Siltavuorenpenger", 24.9515, 60.1755),
    ("Siltasaarenkatu", 24.9499, 60.1777),
    ("Paasivuorenkatu", 24.9483, 60.1788),
)

WORKERS = (("demo-aino", "Aino Virtanen"), ("demo-eero", "Eero Korhonen"),
           ("demo-helmi", "Helmi Nieminen"))

# From this local hour on, the morning windows (08:00-12:00) could no longer all be reached
# (a plan for today would leave those orders unplanned): plan tomorrow.
_LATEST_START_HOUR = 10


def demo_day(now: datetime) -> date:
    """The day the demo plans: today in Helsinki, or tomorrow once the day is mostly over."""
    local = now.astimezone(TIMEZONE)
    return local.date() if local.hour < _LATEST_START_HOUR else local.date() + timedelta(days=1)


def _point(lon: float, lat: float, address: str | None = None) -> dict[str, object]:
    place: dict[str, object] = {"geometry": {"type": "Point", "coordinates": [lon, lat]}}
    if address is not None:
        place["address"] = f"{address}, Helsinki"
    return place


def _window(day: date, start_hour: int, hours: int) -> tuple[str, str]:
    start = datetime.combine(day, time(start_hour), TIMEZONE).astimezone(UTC)
    end = start + timedelta(hours=hours)
    return start.isoformat(), end.isoformat()


def seed(session: Session, account_id: str, *, now: datetime) -> date | None:
    """Create the demo's group, workers and a day of orders, and queue its plan.

    Returns the planned day, or None when the account already has the demo group.
    """
    if session.scalar(select(OpsGroup).where(OpsGroup.account_id == account_id,
                                             OpsGroup.ops_group_handle == GROUP)) is not None:
        return None
    day = demo_day(now)
    group = workers.create_ops_group(session, account_id, OpsGroupCreate.model_validate({
        "ops_group_handle": GROUP, "name": "Helsinki centre", "timezone": TIMEZONE.key,
        "ops_group_home": _point(DEPOT[1], DEPOT[2], DEPOT[0]),
        "route_start_location": "ops_group_home", "route_completion_type": "end_at_last_order",
    }))
    for handle, name in WORKERS:
        workers.create_worker(session, account_id, WorkerCreate.model_validate({
            "worker_handle": handle, "name": name, "ops_group_handle": GROUP,
            "home": _point(DEPOT[1], DEPOT[2], DEPOT[0]), "schedule": [], "capacity": 12,
        }))
    bodies = []
    for index, (street, lon, lat) in enumerate(STREETS):
        # Morning, midday and afternoon windows, so the plan has to respect them.
        after, at = _window(day, 8 + 3 * (index % 3), 4)
        bodies.append({
            "order_handle": f"demo-{day.isoformat()}-{index + 1:02d}",
            "destination": _point(lon, lat, f"{street} {index % 9 + 1}"),
            "scheduled_after": after, "scheduled_at": at, "expected_service_time": 240,
            "metadata": {"demo": True},
        })
    created = orders.create_orders(session, account_id, OrdersCreate.model_validate({
        "orders": bodies, "plan_mode": "scheduled", "ops_group_handle": GROUP}))
    request_planning(session, account_id, group, created, mode="scheduled")
    return day
