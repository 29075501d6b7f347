"""Wire shapes of order tasks and task definitions (contract 3.8)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from routekeeper.core.fields import Handle, JsonObject, Text
from routekeeper.core.timefmt import ApiDatetime

MAX_TASKS = 100


TaskPriority = StrEnum("TaskPriority", "NONE LOW MEDIUM HIGH")


TaskStatusIn = StrEnum("TaskStatusIn", "ONGOING COMPLETED CANCELLED")


class BaseOrderTask(BaseModel):
    """A task as posted (``BaseOrderTask``)."""

    model_config = ConfigDict(extra="forbid")

    label: Text = Field(min_length=1, max_length=200)
    task_definition_id: Text | None = Field(default=None, min_length=1, max_length=36)
    description: Text | None = Field(default=None, max_length=2000)
    metadata: JsonObject | None = None
    priority: TaskPriority | None = None


class ListedTask(BaseOrderTask):
    """A task in an order request's ``tasks_list``: unknown fields are ignored, as on orders."""

    model_config = ConfigDict(extra="ignore")


class TasksList(BaseModel):
    """``tasks_list`` of an order request: a task definition's tasks, then the listed ones."""

    model_config = ConfigDict(extra="ignore")

    task_definition_id: Text | None = Field(default=None, min_length=1, max_length=36)
    tasks: list[ListedTask] | None = Field(default=None, max_length=MAX_TASKS)


class OrderTasksCreate(BaseModel):
    """``POST /orders/{order_handle}/tasks`` body."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[BaseOrderTask] = Field(min_length=1, max_length=MAX_TASKS)


class OrderTaskUpdate(BaseModel):
    """``PATCH /orders/{order_handle}/tasks/{task_id}`` body; attachments are appended."""

    model_config = ConfigDict(extra="forbid")

    label: Text | None = Field(default=None, min_length=1, max_length=200)
    status: TaskStatusIn | None = None
    description: Text | None = Field(default=None, max_length=2000)
    priority: TaskPriority | None = None
    metadata: JsonObject | None = None
    attachments: list[JsonObject] | None = Field(default=None, min_length=1, max_length=10)


class OrderTaskRead(BaseModel):
    """``OrderTaskResponse``."""

    task_id: str
    label: str
    task_definition_id: str | None = None
    description: str | None = None
    metadata: dict[str, object] | None = None
    priority: str | None = None
    status: str
    created_at: ApiDatetime
    updated_at: ApiDatetime | None = None
    attachments: list[dict[str, object]] = Field(default_factory=list)


class OrderTaskList(BaseModel):
    """``{"tasks": [...]}``."""

    tasks: list[OrderTaskRead]


class TaskDefinitionCreate(BaseModel):
    """``POST /orders/tasks-definitions`` body."""

    model_config = ConfigDict(extra="forbid")

    label: Text = Field(min_length=1, max_length=200)
    tasks: list[BaseOrderTask] = Field(min_length=1, max_length=MAX_TASKS)
    ops_group_handle: Handle | None = None
    metadata: JsonObject | None = None


class TaskDefinitionUpdate(BaseModel):
    """``PATCH /orders/tasks-definitions/{task_definition_id}`` body (all optional)."""

    model_config = ConfigDict(extra="forbid")

    label: Text | None = Field(default=None, min_length=1, max_length=200)
    tasks: list[BaseOrderTask] | None = Field(default=None, min_length=1, max_length=MAX_TASKS)
    ops_group_handle: Handle | None = None
    metadata: JsonObject | None = None


class TaskDefinitionRead(BaseModel):
    """``TasksDefinitionResponse``."""

    task_definition_id: str
    label: str
    tasks: list[dict[str, object]]
    ops_group_handle: str | None = None
    metadata: dict[str, object] | None = None
    created_at: ApiDatetime
    updated_at: ApiDatetime | None = None


class TaskDefinitionPage(BaseModel):
    """``{"task_definitions": [...], "pagination_token": ...}``."""

    task_definitions: list[TaskDefinitionRead]
    pagination_token: str | None = None
