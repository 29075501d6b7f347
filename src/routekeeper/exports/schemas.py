"""Request and response bodies of the export endpoints (contract section 2.9)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from routekeeper.core.fields import Text
from routekeeper.core.timefmt import ApiDatetime, parse_query_date, parse_query_time
from routekeeper.orders.filters import DATE_FILTERS, WINDOW_FILTERS, OrderFilters
from routekeeper.workers.schemas import handle_list

MAX_RECIPIENTS = 20
# Fields of the body that do not change which orders are exported, nor how.
IGNORED_FIELDS = frozenset({"limit", "pagination_token", "aggregate"})


# What an export lists: orders (POST /orders/export) or workers (POST /workers/export).
ExportKind = StrEnum("ExportKind", "ORDERS WORKERS")


ExportStatus = StrEnum("ExportStatus", "PENDING PROCESSING COMPLETED FAILED")


FINAL_STATUSES = (ExportStatus.COMPLETED, ExportStatus.FAILED)


MailStatus = StrEnum(
    "MailStatus", "PENDING QUEUED SENT RETRYING FAILED NOT_CONFIGURED NO_RECIPIENTS"
)


class OrderExportRequest(OrderFilters):
    """``OrderExportRequest``: every filter of GET /orders/ plus ``email_recipients``."""

    # An export covers every matching order: paging fields are accepted and ignored, and
    # so is ``aggregate`` (the contract lists it in this body; a file has no aggregate).
    limit: int = 50
    aggregate: bool | None = None
    email_recipients: list[EmailStr] | None = Field(default=None, max_length=MAX_RECIPIENTS)

    @model_validator(mode="before")
    @classmethod
    def _check_times(cls, data: Any) -> Any:
        # Replaces the list filters' whole-body time check: here each bad time filter is
        # reported under its own name by the field validators below.
        return data

    @field_validator(*DATE_FILTERS)
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None:
            parse_query_date(value)
        return value

    @field_validator(*WINDOW_FILTERS)
    @classmethod
    def _window(cls, value: str | None, info: Any) -> str | None:
        if value is not None:
            if str(info.field_name).startswith("created_at_without_tz"):
                parse_query_date(value)
            else:
                parse_query_time(value)
        return value

    def filters(self) -> dict[str, Any]:
        """The filters to store with the job (what decides the rows and their order)."""
        return dict(self.model_dump(
            mode="json", exclude_none=True,
            exclude=set(IGNORED_FIELDS) | {"email_recipients"},
        ))


HandleList = (Annotated[str, Field(max_length=20_000)]
              | Annotated[list[str], Field(max_length=1000)] | None)


class WorkerExportRequest(BaseModel):
    """The body of ``POST /workers/export``: the filters of ``GET /workers/`` plus
    ``email_recipients``; other fields a HyperTrack client sends are ignored."""

    model_config = ConfigDict(extra="ignore")

    # Comma-separated lists, as the query parameters of GET /workers/ (or JSON lists).
    ops_group_handle: HandleList = None
    worker_handle: HandleList = None
    search_term: Text | None = Field(default=None, max_length=200)
    # An export covers every matching worker: paging fields are accepted and ignored.
    limit: int | None = None
    pagination_token: str | None = None
    email_recipients: list[EmailStr] | None = Field(default=None, max_length=MAX_RECIPIENTS)

    def filters(self) -> dict[str, Any]:
        """The filters to store with the job (what decides the rows)."""
        found: dict[str, Any] = {}
        for name, given in (("ops_group_handles", self.ops_group_handle),
                            ("worker_handles", self.worker_handle)):
            handles = handle_list(",".join(given) if isinstance(given, list) else given)
            if handles is not None:
                found[name] = handles
        if self.search_term:
            found["search_term"] = self.search_term
        return found


class OrderExportCreated(BaseModel):
    """``OrderExportResponse``."""

    job_id: str
    status: ExportStatus
    message: str


class OrderExportStatusBody(BaseModel):
    """``OrderExportStatusResponse`` plus ``expires_at``, ``mail_status`` and ``mail_error``."""

    job_id: str
    status: ExportStatus
    rows_processed: int = 0
    presigned_url: str | None = None
    expires_at: ApiDatetime | None = None
    error_message: str | None = None
    mail_status: MailStatus | None = None
    mail_error: str | None = None
    created_at: ApiDatetime | None = None
    started_at: ApiDatetime | None = None
    completed_at: ApiDatetime | None = None

