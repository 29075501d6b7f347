"""The HyperTrack Orders contract, machine-readable: one place to read what the wire promises.

Written from ``shared/contract/hypertrack-orders.md`` (section numbers below are its own):
every operation with its success status and error statuses (section 2), the required fields
of each response object with their JSON types (section 3), the enums (section 4) and the
error shapes (section 1.3). The test modules of this package drive each operation with a
HyperTrack-shaped request and check answers against this description with ``conforms``.
Where the schema and the examples differ, Routekeeper serves the superset, so the required
fields here are the union of both (docs/compatibility.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# ----------------------------------------------------------------------------- JSON types

STR, INT, NUM, BOOL, OBJ, LIST, NULL = "string", "integer", "number", "boolean", "object", \
    "array", "null"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return NUM
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        return LIST
    return OBJ


# ----------------------------------------------------------------------------- enums (4)

ENUMS: dict[str, frozenset[str]] = {
    "order_status": frozenset({"unplanned", "planned", "assigned", "dispatched", "ongoing",
                               "disabled", "completed", "cancelled", "summarizing"}),
    "route_status": frozenset({"planned", "assigned", "tracking", "completed",
                               "summarizing"}),
    "plan_status": frozenset({"planning", "completed", "failed"}),
    "plan_mode": frozenset({"on_demand", "scheduled", "manual", "pool"}),
    "track_mode": frozenset({"on_time", "flex", "pre_shift", "on_shift", "full_shift"}),
    "order_type": frozenset({"pick", "drop"}),
    "priority": frozenset({"low", "medium", "high"}),
    "device_switch_mode": frozenset({"manual", "login", "closest_to_destination"}),
    "completion_type": frozenset({"end_at_last_order", "return_to_start_location", "manual"}),
    "export_status": frozenset({"pending", "processing", "completed", "failed"}),
    "outage_category": frozenset({"behavioural", "adversarial", "reachability", "os",
                                  "sporadic"}),
    "task_priority": frozenset({"none", "low", "medium", "high"}),
    "attachment_type": frozenset({"image", "note", "signature"}),
    "route_start_location": frozenset({"driver_home", "ops_group_home", "live_location"}),
    "objective_fn": frozenset({"minimise_time", "minimise_distance", "balance_time"}),
    "task_status": frozenset({"pending", "created", "ongoing", "completed", "cancelled"}),
    "webhook_value": frozenset({
        "assigned", "started", "first_eta", "eta", "eta_change", "n_minutes_away",
        "device_switched", "disabled", "enabled", "updated", "delayed", "risk_updated",
        "arrived", "exited", "completed", "cancelled", "on_device_geofence_checked",
        "billing_details_updated", "task_created", "task_updated", "task_completed"}),
}


# ----------------------------------------------------------------------------- objects (3)


@dataclass(frozen=True)
class Field:
    """One field of an object: its allowed JSON types, an enum, a nested object or items."""

    types: tuple[str, ...]
    enum: str | None = None
    obj: str | None = None          # the object every value (or item) must conform to
    timestamp: bool = False         # an ISO-8601 UTC instant with milliseconds and Z


def f(*types: str, enum: str | None = None, obj: str | None = None,
      ts: bool = False) -> Field:
    """Shorthand for a ``Field``."""
    return Field(tuple(types), enum, obj, ts)


@dataclass(frozen=True)
class Schema:
    """The fields an object must carry (``required``) and those it may (``optional``)."""

    required: dict[str, Field]
    optional: dict[str, Field] = field(default_factory=dict)


_TS = f(STR, NULL, ts=True)
_POINT = f(OBJ, obj="Geometry")

SCHEMAS: dict[str, Schema] = {
    # 1.3 error shapes
    "HTTPError": Schema({"detail": f(OBJ), "message": f(STR)}),
    "ValidationError": Schema({"detail": f(OBJ), "message": f(STR)}),
    "Error": Schema({"code": f(STR), "title": f(STR), "detail": f(OBJ, STR, NULL)}),
    # 3.1 geometry
    "Geometry": Schema({"type": f(STR), "coordinates": f(LIST)}),
    "Destination": Schema({"geometry": _POINT},
                          {"radius": f(INT, NULL), "address": f(STR, NULL)}),
    # 3.2 order (list / route / track shape)
    "Order": Schema(
        {"order_handle": f(STR), "status": f(STR, enum="order_status"),
         "destination": f(OBJ, obj="Destination"), "fulfillment_attempt": f(INT),
         "type": f(STR, enum="order_type"), "type_index": f(INT),
         "scheduled_at": _TS, "scheduled_after": _TS, "metadata": f(OBJ),
         "region": f(OBJ, NULL), "risk_status": f(BOOL), "expected_service_time": f(INT, NULL),
         "product_type": f(LIST), "capacity_used": f(INT), "worker_handle": f(STR, NULL),
         "device_id": f(STR, NULL), "created_at": _TS, "share_url": f(STR, NULL),
         "embed_url": f(STR, NULL), "route_handle": f(STR, NULL),
         "plan_mode": f(STR, NULL), "ops_group_handle": f(STR, NULL),
         "outage_summary": f(LIST, NULL)},
        {"track_mode": f(STR, NULL), "priority": f(STR, NULL), "risks": f(OBJ, NULL),
         "tasks": f(LIST, NULL, obj="Task"),
         "estimate": f(OBJ, NULL), "completed_at": _TS, "cancelled_at": _TS,
         "started_at": _TS, "assigned_at": _TS, "planned_at": _TS}),
    # 3.3 order detail
    "OrderDetail": Schema(
        {"order_handle": f(STR), "status": f(STR, enum="order_status"),
         "destination": f(OBJ, obj="Destination"), "timeline": f(LIST, obj="TimelineEvent"),
         "previous_fulfillments": f(LIST), "attachments": f(LIST, obj="Attachment")},
        {"polyline": f(OBJ, NULL), "start_location": f(OBJ, NULL),
         "end_location": f(OBJ, NULL)}),
    "TimelineEvent": Schema({"type": f(STR), "recorded_at": f(STR, ts=True)}),
    # 2.4 PatchOrderRequest / CustomOrderEvent attachments, as returned (3.3)
    "Attachment": Schema({"attachment_id": f(STR), "type": f(STR, enum="attachment_type")},
                         {"url": f(STR), "caption": f(STR, NULL), "data": f(STR)}),
    # 3.4 route
    "Route": Schema(
        {"route_handle": f(STR), "status": f(STR, enum="route_status"), "version": f(INT),
         "created_at": f(STR, ts=True), "embed_url": f(STR), "orders": f(LIST, obj="Order"),
         "ops_group_handle": f(STR), "plan_mode": f(STR, NULL), "worker_handle": f(STR, NULL),
         "device_id": f(STR, NULL), "completed_at": _TS, "metadata": f(OBJ),
         "estimate": f(OBJ, NULL)},
        {"track_mode": f(STR, NULL), "started_at": _TS, "assigned_at": _TS,
         "planned_at": _TS, "plan_id": f(STR, NULL)}),
    "RouteList": Schema(
        {"route_handle": f(STR), "status": f(STR, enum="route_status"), "version": f(INT),
         "created_at": f(STR, ts=True), "embed_url": f(STR), "orders": f(LIST)}),
    # 3.5 estimates (the route estimate as plans show it)
    "PlanRouteEstimate": Schema(
        {"start_by": _TS, "distance": f(INT), "duration": f(INT),
         "polyline": f(OBJ, obj="Geometry"), "start_location": f(OBJ, NULL),
         "end_location": f(OBJ, NULL)}),
    # 3.6 plan
    "Plan": Schema(
        {"plan_id": f(STR), "status": f(STR, enum="plan_status"), "sequence_number": f(INT),
         "fulfillment_date": f(STR), "ops_group_handle": f(STR),
         "created_at": f(STR, ts=True), "started_at": f(STR, ts=True),
         "routes": f(LIST, obj="Route"), "unplanned_orders": f(LIST, obj="OrderMini")},
        {"failure_reason": f(STR, NULL), "summary": f(OBJ, obj="PlanSummary")}),
    "OrderMini": Schema({"order_handle": f(STR), "status": f(STR), "type": f(STR),
                         "type_index": f(INT)},
                        {"plan_mode": f(STR, NULL), "planning_failure_reason": f(STR, NULL)}),
    "PlanSummary": Schema({"orders": f(OBJ), "estimate": f(OBJ), "distance": f(INT),
                           "duration": f(INT), "routes": f(INT), "drivers": f(INT)}),
    "PlanHandle": Schema({"message": f(STR), "plan": f(OBJ)}),
    "CandidateWorkers": Schema({"candidate_workers": f(LIST, obj="CandidateWorker")}),
    "CandidateWorker": Schema({"worker_handle": f(STR)},
                              {"profile": f(OBJ, NULL), "order_start_location": f(OBJ, NULL),
                               "route": f(OBJ, NULL, obj="CandidateRoute")}),
    "CandidateRoute": Schema({"route_handle": f(STR), "index": f(INT)}),
    # 2.9 / 3.7 exports
    "ExportCreated": Schema({"job_id": f(STR), "status": f(STR, enum="export_status"),
                             "message": f(STR)}),
    "ExportStatus": Schema({"job_id": f(STR), "status": f(STR, enum="export_status"),
                            "rows_processed": f(INT), "presigned_url": f(STR, NULL),
                            "error_message": f(STR, NULL), "created_at": _TS,
                            "started_at": _TS, "completed_at": _TS}),
    # 2.10 / 6 workers and ops groups (the planning inputs the contract names)
    "Worker": Schema({"worker_handle": f(STR), "ops_group_handle": f(STR),
                      "work_status": f(OBJ, obj="WorkStatus"), "schedule": f(LIST),
                      "product_types": f(LIST), "unavailable_on": f(LIST),
                      "created_at": f(STR, ts=True)},
                     {"name": f(STR, NULL), "profile": f(OBJ), "home": f(OBJ, NULL)}),
    "WorkStatus": Schema({"available": f(BOOL), "tracking": f(BOOL)}),
    "OpsGroup": Schema(
        {"ops_group_handle": f(STR), "timezone": f(STR),
         "route_start_location": f(STR, enum="route_start_location"),
         "route_completion_type": f(STR, enum="completion_type"),
         "objective_fn": f(STR, enum="objective_fn"), "operations_radius": f(INT, NULL),
         "enforce_operations_radius": f(BOOL), "schedule": f(LIST),
         "order_tracking_automation": f(OBJ, NULL), "work_status_automation": f(LIST)},
        {"ops_group_label": f(STR, NULL), "ops_group_home": f(OBJ, NULL),
         "route_capacity": f(INT, NULL), "route_max_distance": f(INT, NULL)}),
    # 3.10 aggregate
    "OrderAggregate": Schema({"orders": f(OBJ)},
                             {"outage_summary": f(LIST, obj="Outage")}),
    "Outage": Schema({"code": f(STR), "label": f(STR), "description": f(STR),
                      "duration": f(INT)},
                     {"distance": f(INT, NULL), "category": f(STR, enum="outage_category")}),
    # 3.8 tasks
    "Task": Schema({"task_id": f(STR), "label": f(STR), "created_at": f(STR, ts=True)},
                   {"status": f(STR, NULL, enum="task_status"),
                    "priority": f(STR, NULL, enum="task_priority")}),
    "TaskList": Schema({"tasks": f(LIST, obj="Task")}),
    "TaskDefinition": Schema(
        {"task_definition_id": f(STR), "label": f(STR), "tasks": f(LIST, obj="BaseTask"),
         "created_at": f(STR, ts=True)},
        {"ops_group_handle": f(STR, NULL), "metadata": f(OBJ, NULL), "updated_at": _TS}),
    "BaseTask": Schema({"label": f(STR)},
                       {"task_definition_id": f(STR, NULL), "description": f(STR, NULL),
                        "metadata": f(OBJ, NULL),
                        "priority": f(STR, NULL, enum="task_priority")}),
    "TaskDefinitionPage": Schema({"task_definitions": f(LIST, obj="TaskDefinition"),
                                  "pagination_token": f(STR, NULL)}),
    # 2.7 estimated routes
    "EstimatedRoute": Schema({"estimated_route_id": f(STR)},
                             {"polyline": f(OBJ, NULL, obj="Geometry"),
                              "start_location": f(OBJ, NULL), "end_location": f(OBJ, NULL),
                              "distance": f(INT, NULL), "duration": f(INT, NULL)}),
    # 1.1 embed tokens
    "EmbedToken": Schema({"access_token": f(STR), "token_type": f(STR),
                          "expires_in": f(INT), "embed_url": f(STR),
                          "secure_embed_url": f(STR)}),
    # 5.2 webhook envelope
    "WebhookEvent": Schema(
        {"account_id": f(STR), "recorded_at": f(STR, ts=True), "created_at": f(STR, ts=True),
         "device_id": f(STR, NULL), "type": f(STR), "version": f(STR),
         "data": f(OBJ, obj="WebhookData")},
        {"worker_handle": f(STR, NULL), "location": f(OBJ, NULL)}),
    "WebhookData": Schema({"order_handle": f(STR), "route_handle": f(STR, NULL),
                           "value": f(STR, enum="webhook_value"),
                           "status": f(STR, enum="order_status")},
                          {"share_url": f(STR, NULL), "metadata": f(OBJ, NULL)}),
    # 5.2 eta: `remaining_duration*` s, `remaining_distance*` m, `driver_location?` Point.
    "EtaWebhookData": Schema({"remaining_duration": f(INT), "remaining_distance": f(INT)},
                             {"driver_location": f(OBJ, NULL, obj="Geometry"),
                              "scheduled_at": _TS, "estimated_route_id": f(STR, NULL)}),
    # 5.2 task_created / task_updated / task_completed: `task*` OrderTaskResponse.
    "TaskWebhookData": Schema({"task": f(OBJ, obj="Task")}, {"scheduled_at": _TS}),
}


# ----------------------------------------------------------------------------- operations (2)


@dataclass(frozen=True)
class Operation:
    """One operation: method, path, success status, its answer's object, error statuses."""

    method: str
    path: str
    section: str
    success: int
    answer: str | None            # the SCHEMAS name of the body, or None (free / empty)
    errors: tuple[int, ...] = (401, 422)


OPERATIONS: dict[str, Operation] = {
    "list_orders": Operation("GET", "/orders/", "2.1", 200, None),
    "create_orders": Operation("POST", "/orders/", "2.2", 201, None, (401, 409, 422)),
    "track": Operation("POST", "/orders/track", "2.3", 201, "Route", (400, 401, 404, 409, 422)),
    "get_order": Operation("GET", "/orders/{order_handle}", "2.4", 200, "OrderDetail",
                           (401, 404, 422)),
    "patch_order": Operation("PATCH", "/orders/{order_handle}", "2.4", 200, "OrderDetail",
                             (401, 404, 422)),
    "complete_order": Operation("POST", "/orders/{order_handle}/complete", "2.4", 200,
                                "OrderDetail", (401, 404, 422)),
    "cancel_order": Operation("POST", "/orders/{order_handle}/cancel", "2.4", 200,
                              "OrderDetail", (401, 404, 422)),
    "disable_order": Operation("POST", "/orders/{order_handle}/disable", "2.4", 200,
                               "OrderDetail", (401, 404, 422)),
    "enable_order": Operation("POST", "/orders/{order_handle}/enable", "2.4", 200,
                              "OrderDetail", (401, 404, 422)),
    "reassign_order": Operation("POST", "/orders/{order_handle}/reassign", "2.4", 200,
                                "OrderDetail", (401, 404, 422)),
    "reschedule_order": Operation("POST", "/orders/{order_handle}/reschedule", "2.4", 200,
                                  "OrderDetail", (401, 404, 422)),
    "order_events": Operation("POST", "/orders/{order_handle}/events", "2.4", 201, None,
                              (401, 404, 422)),
    "order_webhooks": Operation("GET", "/orders/{order_handle}/webhooks", "2.4", 200, None,
                                (401, 404, 422)),
    "candidate_workers": Operation("GET", "/orders/{order_handle}/candidate_workers", "2.4",
                                   200, "CandidateWorkers", (401, 404, 422)),
    "list_tasks": Operation("GET", "/orders/{order_handle}/tasks", "2.4", 200, None,
                            (401, 404, 422)),
    "create_tasks": Operation("POST", "/orders/{order_handle}/tasks", "2.4", 201, None,
                              (401, 404, 422)),
    "update_task": Operation("PATCH", "/orders/{order_handle}/tasks/{task_id}", "2.4", 200,
                             "Task", (401, 404, 422)),
    # No success status is declared for DELETE; Routekeeper answers 204 (compatibility.md).
    "delete_task": Operation("DELETE", "/orders/{order_handle}/tasks/{task_id}", "2.4", 204,
                             None, (401, 404, 422)),
    "list_task_definitions": Operation("GET", "/orders/tasks-definitions", "2.4", 200,
                                       "TaskDefinitionPage"),
    "create_task_definition": Operation("POST", "/orders/tasks-definitions", "2.4", 201,
                                        "TaskDefinition", (400, 401, 422)),
    "get_task_definition": Operation("GET", "/orders/tasks-definitions/{task_definition_id}",
                                     "2.4", 200, "TaskDefinition", (401, 404, 422)),
    "update_task_definition": Operation(
        "PATCH", "/orders/tasks-definitions/{task_definition_id}", "2.4", 200,
        "TaskDefinition", (400, 401, 404, 422)),
    "delete_task_definition": Operation(
        "DELETE", "/orders/tasks-definitions/{task_definition_id}", "2.4", 200, None,
        (401, 404, 422)),
    "list_plans": Operation("GET", "/orders/plans", "2.5", 200, None),
    "get_plan": Operation("GET", "/orders/plans/{plan_id}", "2.5", 200, "Plan",
                          (401, 404, 422)),
    "trigger_plan": Operation("POST", "/orders/plans/{plan_id}/trigger", "2.5", 200,
                              "PlanHandle", (401, 404, 422)),
    "list_routes": Operation("GET", "/orders/routes/", "2.6", 200, None),
    "create_route": Operation("POST", "/orders/routes/", "2.6", 201, "Route"),
    "get_route": Operation("GET", "/orders/routes/{route_handle}", "2.6", 200, "Route",
                           (401, 404, 422)),
    "patch_route": Operation("PATCH", "/orders/routes/{route_handle}", "2.6", 200, "Route",
                             (401, 404, 409, 422)),
    "add_to_route": Operation("POST", "/orders/routes/{route_handle}/add", "2.6", 200,
                              "Route", (401, 404, 409, 422)),
    "remove_from_route": Operation("POST", "/orders/routes/{route_handle}/remove", "2.6", 200,
                                   "Route", (401, 404, 409, 422)),
    "resequence_route": Operation("POST", "/orders/routes/{route_handle}/resequence", "2.6",
                                  200, "Route", (401, 404, 409, 422)),
    "optimise_route": Operation("POST", "/orders/routes/{route_handle}/optimise", "2.6", 200,
                                "Route", (401, 404, 409, 422)),
    "reassign_route": Operation("POST", "/orders/routes/{route_handle}/reassign", "2.6", 200,
                                "Route", (401, 404, 409, 422)),
    "complete_route": Operation("POST", "/orders/routes/{route_handle}/complete", "2.6", 200,
                                "Route", (401, 404, 409, 422)),
    "estimate": Operation("GET", "/orders/estimate", "2.7", 201, None),
    "estimated_route": Operation("GET", "/orders/estimated-routes/{estimated_route_id}",
                                 "2.7", 200, "EstimatedRoute", (401, 404, 422)),
    "public_tracking": Operation("GET", "/tracking/{tracking_id}", "2.8", 200, None,
                                 (404, 422)),
    "create_export": Operation("POST", "/orders/export", "2.9", 201, "ExportCreated"),
    "export_status": Operation("GET", "/orders/export/{job_id}", "2.9", 200, "ExportStatus",
                               (401, 404, 422)),
    # 2.9: "Worker export ... uses the identical job shapes".
    "create_worker_export": Operation("POST", "/workers/export", "2.9", 201, "ExportCreated"),
    "worker_export_status": Operation("GET", "/workers/export/{job_id}", "2.9", 200,
                                      "ExportStatus", (401, 404, 422)),
    "create_ops_group": Operation("POST", "/workers/ops-groups/", "2.10", 200, "OpsGroup",
                                  (401, 409, 422)),
    "update_ops_group": Operation("PATCH", "/workers/ops-groups/{ops_group_handle}", "2.10",
                                  200, "OpsGroup", (401, 404, 422)),
    "create_worker": Operation("POST", "/workers/", "2.10", 201, "Worker", (400, 401, 409, 422)),
    "get_worker": Operation("GET", "/workers/{worker_handle}", "2.10", 200, "Worker",
                            (401, 404, 422)),
    "delete_worker": Operation("DELETE", "/workers/{worker_handle}", "2.10", 204, None,
                               (401, 404, 422)),
    "work_status": Operation("POST", "/workers/{worker_handle}/work_status", "2.10", 200,
                             "Worker", (401, 404, 422)),
    # 1.1, besides the 39 operations of the index (2.0)
    "embed_token": Operation("POST", "/oauth/embed-token", "1.1", 200, "EmbedToken",
                             (400, 401, 404, 422)),
}

# The index of contract section 2.0: every operation the contract lists, each by the key of
# its entry above (item 21, GET / PATCH / DELETE of a task definition, is three entries).
CONTRACT_INDEX: tuple[str, ...] = (
    "list_orders", "create_orders", "track", "get_order", "patch_order", "complete_order",
    "cancel_order", "disable_order", "enable_order", "reassign_order", "reschedule_order",
    "order_events", "order_webhooks", "candidate_workers", "list_tasks", "create_tasks",
    "update_task", "delete_task", "list_task_definitions", "create_task_definition",
    "get_task_definition", "update_task_definition", "delete_task_definition", "list_plans",
    "get_plan", "trigger_plan", "list_routes", "create_route", "get_route", "patch_route",
    "add_to_route", "remove_from_route", "resequence_route", "optimise_route",
    "reassign_route", "complete_route", "estimate", "estimated_route", "public_tracking",
    "create_export", "export_status",
)


# ----------------------------------------------------------------------------- checking


def violations(schema_name: str, value: Any, where: str = "$") -> list[str]:
    """Every way ``value`` departs from ``SCHEMAS[schema_name]`` (empty when it conforms)."""
    schema = SCHEMAS[schema_name]
    if not isinstance(value, dict):
        return [f"{where}: {schema_name} must be an object, got {json_type(value)}"]
    found: list[str] = []
    for name, spec in schema.required.items():
        if name not in value:
            found.append(f"{where}.{name}: missing ({schema_name})")
            continue
        found += _check_field(spec, value[name], f"{where}.{name}")
    for name, spec in schema.optional.items():
        if name in value:
            found += _check_field(spec, value[name], f"{where}.{name}")
    return found


def _check_field(spec: Field, value: Any, where: str) -> list[str]:
    kind = json_type(value)
    # An integer is a number; a number with a fraction is not an integer.
    if kind not in spec.types and not (kind == INT and NUM in spec.types):
        return [f"{where}: {kind} is not {'/'.join(spec.types)}"]
    if value is None:
        return []
    found: list[str] = []
    if spec.enum is not None and value not in ENUMS[spec.enum]:
        found.append(f"{where}: {value!r} is not one of {spec.enum}")
    if spec.timestamp and not TIMESTAMP.match(str(value)):
        found.append(f"{where}: {value!r} is not YYYY-MM-DDTHH:MM:SS.sssZ")
    if spec.obj is not None:
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            at = f"{where}[{index}]" if isinstance(value, list) else where
            found += violations(spec.obj, item, at)
    return found


def conforms(schema_name: str, value: Any) -> None:
    """Assert that ``value`` conforms to ``SCHEMAS[schema_name]``."""
    problems = violations(schema_name, value)
    assert not problems, "\n".join(problems[:20])


def answers(operation: str, response: Any) -> Any:
    """Assert ``response`` is the operation's success with its object; the decoded body."""
    op = OPERATIONS[operation]
    assert response.status_code == op.success, (operation, response.status_code,
                                                 response.text[:1000])
    body = response.json() if response.content else None
    if op.answer is not None:
        conforms(op.answer, body)
    return body


def fails(operation: str, response: Any, status: int, shape: str) -> Any:
    """Assert ``response`` is one of the operation's declared errors, in ``shape``."""
    op = OPERATIONS[operation]
    assert status in op.errors or status == 400, (operation, status)
    assert response.status_code == status, (operation, response.status_code, response.text)
    body = response.json()
    conforms(shape, body)
    assert set(body) == set(SCHEMAS[shape].required), body
    return body
