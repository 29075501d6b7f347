"""Exports in the console: start one with filters, follow its progress, download it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from routekeeper.console.auth import Form, Operator, SignedIn
from routekeeper.console.render import page, see_other
from routekeeper.console.webhooks import error_text
from routekeeper.core.errors import ApiError
from routekeeper.dependencies import get_db, get_settings
from routekeeper.exports import service
from routekeeper.exports.schemas import OrderExportRequest

router = APIRouter(prefix="/console/exports", include_in_schema=False)

# The filters the form offers (every filter of GET /orders/ is available through the API).
FILTERS = ("status", "worker_handle", "search_term", "scheduled_at_date")
STATUSES = ("", "unplanned", "planned", "assigned", "ongoing", "completed", "cancelled",
            "disabled")


def _list_context(request: Request, operator: Operator) -> dict[str, Any]:
    settings = get_settings(request)
    with get_db(request).read() as session:
        exports = [service.status_body(export, settings) | {"filters": export.filters}
                   for export in service.recent_exports(session, operator.account_id)]
    return {"account": operator, "csrf": operator.csrf, "exports": exports,
            "statuses": STATUSES, "values": {}}


@router.get("")
def exports_page(request: Request, operator: SignedIn) -> HTMLResponse:
    """Recent exports with their progress and links, and the form to start one."""
    return page(request, "exports.html", _list_context(request, operator))


@router.post("")
def start(request: Request, operator: SignedIn, form: Form) -> Response:
    """Start an export of the orders matching the form's filters."""
    values = {name: form.get(name, "").strip() for name in FILTERS}
    try:
        body = OrderExportRequest(**{k: v for k, v in values.items() if v})
        with get_db(request).write() as session:
            export = service.create_export(
                session, operator.account_id, body, idempotency_key=None,
                contact_email=operator.contact_email if form.get("mail") == "yes" else None)
            export_id = export.id
    except (ApiError, ValidationError) as exc:
        return page(request, "exports.html", {
            **_list_context(request, operator), "values": values,
            "error": f"The export was not started: {error_text(exc)}"}, status_code=422)
    return see_other(f"/console/exports/{export_id}")


@router.get("/{export_id}")
def export_page(request: Request, export_id: str, operator: SignedIn) -> HTMLResponse:
    """One export: its state, rows so far, and the download link once completed."""
    settings = get_settings(request)
    with get_db(request).read() as session:
        export = service.get_export(session, operator.account_id, export_id)
        state = service.status_body(export, settings) | {"filters": export.filters}
    return page(request, "export.html", {"account": operator, "csrf": operator.csrf,
                                         "export": state})
