"""Builders and assertions shared by the worker and ops group tests."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from tests.shapes import messages_at

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient answers

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A handle no other test uses."""
    return f"{prefix}-{next(_counter)}"


def ops_group_body(**overrides: Any) -> dict[str, Any]:
    """A full ``POST /workers/ops-groups/`` body with a unique handle."""
    body: dict[str, Any] = {
        "ops_group_handle": unique("store"),
        "ops_group_label": "Store SF",
        "timezone": "America/Los_Angeles",
        "ops_group_home": {
            "geometry": {"type": "Point", "coordinates": [-122.4, 37.79]},
            "address": "1 Market St",
        },
        "route_start_location": "ops_group_home",
        "route_completion_type": "return_to_start_location",
        "route_capacity": 20,
        "route_max_distance": 150_000,
        "objective_fn": "minimise_distance",
        "default_shift_start_time": "08:00",
        "default_shift_end_time": "17:30",
        "metadata": {"region": "west"},
    }
    body.update(overrides)
    return body


def assert_validation_error(response: Response, location: str, field: str) -> None:
    """A 422 in the ``ValidationError`` shape that names ``field`` at ``location``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail", "message"}
    assert body["message"] == "Validation error"
    messages_at(body["detail"], location, field)


def assert_coded_error(response: Response, status: int, code: str) -> None:
    """An error in the ``Error`` shape with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "title", "detail"}
    assert body["code"] == code
    assert isinstance(body["title"], str) and body["title"]


def assert_not_found(response: Response) -> None:
    """A 404 in the ``HTTPError`` shape."""
    assert response.status_code == 404, response.text
    body = response.json()
    assert set(body) == {"detail", "message"}
    assert isinstance(body["detail"], dict) and isinstance(body["message"], str)
