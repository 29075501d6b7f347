"""Contract section 2.0: the suite drives every operation of the contract's index.

``spec.CONTRACT_INDEX`` lists the 39 operations of the index (item 21 as its three methods);
each must be described in ``spec.OPERATIONS`` with the index's method and path, and be
answered (``answers("<operation>", ...)``) by at least one test module of this package.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.contract.spec import CONTRACT_INDEX, OPERATIONS

HERE = Path(__file__).parent
# Method and path of each item of the contract's index (section 2.0), in its order.
INDEX_PATHS = [
    ("GET", "/orders/"), ("POST", "/orders/"), ("POST", "/orders/track"),
    ("GET", "/orders/{order_handle}"), ("PATCH", "/orders/{order_handle}"),
    *(("POST", f"/orders/{{order_handle}}/{verb}") for verb in (
        "complete", "cancel", "disable", "enable", "reassign", "reschedule", "events")),
    ("GET", "/orders/{order_handle}/webhooks"),
    ("GET", "/orders/{order_handle}/candidate_workers"),
    ("GET", "/orders/{order_handle}/tasks"), ("POST", "/orders/{order_handle}/tasks"),
    ("PATCH", "/orders/{order_handle}/tasks/{task_id}"),
    ("DELETE", "/orders/{order_handle}/tasks/{task_id}"),
    ("GET", "/orders/tasks-definitions"), ("POST", "/orders/tasks-definitions"),
    *((m, "/orders/tasks-definitions/{task_definition_id}") for m in ("GET", "PATCH",
                                                                      "DELETE")),
    ("GET", "/orders/plans"), ("GET", "/orders/plans/{plan_id}"),
    ("POST", "/orders/plans/{plan_id}/trigger"),
    ("GET", "/orders/routes/"), ("POST", "/orders/routes/"),
    ("GET", "/orders/routes/{route_handle}"), ("PATCH", "/orders/routes/{route_handle}"),
    *(("POST", f"/orders/routes/{{route_handle}}/{verb}") for verb in (
        "add", "remove", "resequence", "optimise", "reassign", "complete")),
    ("GET", "/orders/estimate"), ("GET", "/orders/estimated-routes/{estimated_route_id}"),
    ("GET", "/tracking/{tracking_id}"), ("POST", "/orders/export"),
    ("GET", "/orders/export/{job_id}"),
]


def test_every_operation_of_the_index_is_described() -> None:
    """The 41 entries (39 items) map one to one onto the index's methods and paths."""
    assert len(CONTRACT_INDEX) == len(set(CONTRACT_INDEX)) == len(INDEX_PATHS) == 41
    described = [(OPERATIONS[name].method, OPERATIONS[name].path) for name in CONTRACT_INDEX]
    assert described == INDEX_PATHS


def test_every_operation_is_driven_by_a_test() -> None:
    """Each operation of the index (and every other described one) is answered by a test."""
    driven: set[str] = set()
    for module in HERE.glob("test_*.py"):
        driven |= set(re.findall(r'answers\(\s*"([a-z_]+)"', module.read_text()))
    assert set(OPERATIONS) - driven == set()
