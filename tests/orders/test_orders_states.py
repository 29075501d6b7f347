"""Order states: completed and cancelled are final, in the table and through the API."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from starlette.testclient import TestClient

from routekeeper.orders.states import TERMINAL, OrderAction, OrderStatus, can, target
from tests.factories import create_orders_body, order_body
from tests.orders.helpers import create_worker, handle, routed_orders, start_route

statuses = st.sampled_from(list(OrderStatus))
actions = st.sampled_from(list(OrderAction))


@given(action=actions, status=st.sampled_from(sorted(TERMINAL)))
def test_no_action_leaves_a_terminal_status(action: OrderAction, status: OrderStatus) -> None:
    """The transition table allows nothing from completed or cancelled."""
    assert not can(action, status)


@given(action=actions, status=statuses, started=st.booleans(), assigned=st.booleans(),
       on_route=st.booleans())
def test_allowed_transitions_have_a_defined_target(
    action: OrderAction, status: OrderStatus, started: bool, assigned: bool, on_route: bool
) -> None:
    """Every allowed transition lands on a status; only complete and cancel end an order."""
    if not can(action, status):
        return
    result = target(action, status, started=started, assigned=assigned, on_route=on_route)
    assert isinstance(result, OrderStatus)
    if result in TERMINAL:
        assert action in (OrderAction.COMPLETE, OrderAction.CANCEL, OrderAction.RESCHEDULE)


@given(status=statuses)
def test_every_open_order_can_be_cancelled(status: OrderStatus) -> None:
    """Cancel is the way out of every open status (summarizing follows completion)."""
    closed = TERMINAL | {OrderStatus.SUMMARIZING}
    assert can(OrderAction.CANCEL, status) == (status not in closed)


def _comparable(detail: dict[str, Any]) -> dict[str, Any]:
    """An order's detail without its timeline (custom events may still be added to it) and
    with the embed link's path only (its signed token carries a fresh expiry each time)."""
    data = {k: v for k, v in detail.items() if k != "timeline"}
    if data.get("embed_url"):
        data["embed_url"] = data["embed_url"].split("?")[0]
    return data


def test_terminal_orders_never_change_under_random_actions(api: TestClient) -> None:
    """Random action sequences through the API never change a completed or cancelled order."""
    worker = create_worker(api)

    class OrderLifecycle(RuleBasedStateMachine):
        """One handle driven through random actions; terminal attempts are snapshotted."""

        def __init__(self) -> None:
            super().__init__()
            self.name = handle("sm")
            self.route: str | None = None
            self.final: dict[int, dict[str, Any]] = {}
            self.step = 0

        def _attempts(self) -> list[dict[str, Any]]:
            response = api.get("/orders/", params={"search_term": self.name, "limit": 1000})
            assert response.status_code == 200, response.text
            return [o for o in response.json()["orders"] if o["order_handle"] == self.name]

        def _remember_final(self) -> None:
            for order in self._attempts():
                attempt = order["fulfillment_attempt"]
                if order["status"] in TERMINAL and attempt not in self.final:
                    detail = api.get(f"/orders/{self.name}",
                                     params={"fulfillment_attempt": attempt}).json()
                    self.final[attempt] = _comparable(detail)

        @initialize(stage=st.sampled_from(["unplanned", "assigned", "ongoing"]))
        def create(self, stage: str) -> None:
            if stage == "unplanned":
                response = api.post("/orders/", json=create_orders_body(
                    order_body(order_handle=self.name)))
                assert response.status_code == 201, response.text
                return
            self.route, _ = routed_orders(api, order_body(order_handle=self.name),
                                          worker_handle=worker)
            if stage == "ongoing":
                start_route(api, self.route)

        @rule(action=st.sampled_from(["complete", "cancel", "disable", "enable"]),
              target_first=st.booleans())
        def act(self, action: str, target_first: bool) -> None:
            self.step += 1
            params = {"fulfillment_attempt": 0} if target_first else {}
            before = api.get(f"/orders/{self.name}", params=params).json()
            response = api.post(f"/orders/{self.name}/{action}", params=params,
                                json={"metadata": {"step": self.step}})
            allowed = can(OrderAction(action), OrderStatus(before["status"]))
            event(f"{action} from {before['status']}: {'done' if allowed else 'refused'}")
            assert response.status_code == (200 if allowed else 409), response.text
            if not allowed:
                title = response.json()["title"]
                assert action in title and before["status"] in title
            self._remember_final()

        @rule(target_first=st.booleans())
        def reschedule(self, target_first: bool) -> None:
            params = {"fulfillment_attempt": 0} if target_first else {}
            before = api.get(f"/orders/{self.name}", params=params).json()
            response = api.post(f"/orders/{self.name}/reschedule", params=params,
                                json={"scheduled_at": "2031-09-01T10:00:00Z"})
            allowed = can(OrderAction.RESCHEDULE, OrderStatus(before["status"]))
            assert response.status_code == (200 if allowed else 409), response.text
            self._remember_final()

        @rule(target_first=st.booleans())
        def patch(self, target_first: bool) -> None:
            params = {"fulfillment_attempt": 0} if target_first else {}
            before = api.get(f"/orders/{self.name}", params=params).json()
            response = api.patch(f"/orders/{self.name}", params=params,
                                 json={"metadata": {"patched": True}, "priority": "medium"})
            allowed = before["status"] not in TERMINAL
            assert response.status_code == (200 if allowed else 409), response.text

        @rule()
        def recreate(self) -> None:
            current = api.get(f"/orders/{self.name}").json()
            response = api.post("/orders/", json=create_orders_body(
                order_body(order_handle=self.name)))
            expected = 201 if current["status"] in TERMINAL else 409
            assert response.status_code == expected, response.text

        @rule()
        def add_event(self) -> None:
            response = api.post(f"/orders/{self.name}/events", json={
                "events": [{"type": "note", "recorded_at": "2031-01-01T00:00:00Z"}]})
            assert response.status_code == 201, response.text

        @invariant()
        def final_orders_are_unchanged(self) -> None:
            event(f"final attempts watched: {min(len(self.final), 3)}")
            for attempt, snapshot in self.final.items():
                detail = api.get(f"/orders/{self.name}",
                                 params={"fulfillment_attempt": attempt}).json()
                assert _comparable(detail) == snapshot

    run_state_machine_as_test(OrderLifecycle, settings=settings(
        max_examples=50, stateful_step_count=10, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow],
    ))
