"""Webhook endpoints in the console: add (with a test delivery), deliveries, replay, rotate,
disable and enable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from routekeeper.console.auth import Form, Operator, SignedIn
from routekeeper.console.render import page, see_other
from routekeeper.core.errors import ApiError
from routekeeper.core.pagination import page_keys
from routekeeper.dependencies import get_db, get_settings
from routekeeper.webhooks import service
from routekeeper.webhooks.schemas import EndpointCreate, EndpointUpdate, ReplayRequest

router = APIRouter(prefix="/console/webhooks", include_in_schema=False)

RECENT_DELIVERIES = 25


def error_text(exc: ApiError | ValidationError) -> str:
    """One readable sentence from a service error or a schema's validation errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg", "invalid")).removeprefix("Value error, ")
                         for e in exc.errors())
    body = exc.body
    detail = body.get("detail")
    if isinstance(detail, dict) and "description" in detail:
        return str(detail["description"])
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {', '.join(msgs)}" for place in detail.values()
                         if isinstance(place, dict) for field, msgs in place.items())
    return str(body.get("title") or body.get("message") or "The request was refused.")


def _list_context(request: Request, operator: Operator) -> dict[str, Any]:
    settings = get_settings(request)
    with get_db(request).read() as session:
        endpoints = service.list_endpoints(
            session, operator.account_id, limit=100, token=None,
            secret=page_keys(settings.signing_keys, "webhook_endpoints",
                             operator.account_id)).endpoints
    return {"account": operator, "csrf": operator.csrf, "endpoints": endpoints}


@router.get("")
def endpoints_page(request: Request, operator: SignedIn) -> HTMLResponse:
    """The account's endpoints and the form to add one."""
    return page(request, "webhooks.html", {**_list_context(request, operator), "url": "",
                                           "description": ""})


@router.post("")
def add_endpoint(request: Request, operator: SignedIn, form: Form) -> Response:
    """Register an endpoint and send it a test delivery; its secret is shown once."""
    settings = get_settings(request)
    url, description = form.get("url", "").strip(), form.get("description", "").strip()
    try:
        body = EndpointCreate(url=url, description=description or None)
        with get_db(request).write() as session:
            created = service.create_endpoint(session, operator.account_id, body,
                                              settings.webhooks)
            service.send_test_event(session, operator.account_id, created.id)
    except (ApiError, ValidationError) as exc:
        return page(request, "webhooks.html", {
            **_list_context(request, operator), "url": url, "description": description,
            "error": f"The endpoint was not added: {error_text(exc)}"}, status_code=422)
    return _endpoint_page(request, operator, created.id, secret=created.secret,
                          notice="Endpoint added. A test delivery is on its way; its "
                                 "outcome appears under Recent deliveries.")


def _endpoint_page(request: Request, operator: Operator, endpoint_id: str, *,
                   secret: str | None = None, notice: str | None = None,
                   error: str | None = None, status_code: int = 200) -> HTMLResponse:
    settings = get_settings(request)
    with get_db(request).read() as session:
        endpoint = service.endpoint_read(service.get_endpoint(session, operator.account_id,
                                                              endpoint_id))
        deliveries = service.list_deliveries(
            session, operator.account_id, endpoint_id, status=None, event_id=None,
            limit=RECENT_DELIVERIES, token=None,
            secret=page_keys(settings.signing_keys, "webhook_deliveries",
                             operator.account_id)).deliveries
    return page(request, "webhook.html", {
        "account": operator, "csrf": operator.csrf, "endpoint": endpoint,
        "deliveries": deliveries, "secret": secret, "notice": notice, "error": error,
    }, status_code=status_code)


@router.get("/{endpoint_id}")
def endpoint_page(request: Request, endpoint_id: str, operator: SignedIn) -> HTMLResponse:
    """One endpoint with its recent deliveries and actions."""
    return _endpoint_page(request, operator, endpoint_id)


@router.post("/{endpoint_id}/test")
def send_test(request: Request, endpoint_id: str, operator: SignedIn, _form: Form) -> Response:
    """Queue another test delivery."""
    with get_db(request).write() as session:
        service.send_test_event(session, operator.account_id, endpoint_id)
    return see_other(f"/console/webhooks/{endpoint_id}")


@router.post("/{endpoint_id}/replay")
def replay(request: Request, endpoint_id: str, operator: SignedIn, form: Form) -> Response:
    """Send one past event to the endpoint again (same event id)."""
    try:
        body = ReplayRequest(event_id=form.get("event_id") or None)
        with get_db(request).write() as session:
            service.replay(session, operator.account_id, endpoint_id, body)
    except (ApiError, ValidationError) as exc:
        return _endpoint_page(request, operator, endpoint_id, status_code=422,
                              error=f"Nothing was replayed: {error_text(exc)}")
    return see_other(f"/console/webhooks/{endpoint_id}")


@router.post("/{endpoint_id}/rotate")
def rotate(request: Request, endpoint_id: str, operator: SignedIn, _form: Form) -> Response:
    """A new signing secret (shown once); the old one keeps signing for the overlap."""
    settings = get_settings(request)
    with get_db(request).write() as session:
        rotated = service.rotate_secret(session, operator.account_id, endpoint_id,
                                        settings.webhooks)
    return _endpoint_page(request, operator, endpoint_id, secret=rotated.secret,
                          notice="The signing secret was rotated. Deliveries carry "
                                 "signatures of both secrets until the old one expires.")


@router.post("/{endpoint_id}/enabled")
def set_enabled(request: Request, endpoint_id: str, operator: SignedIn, form: Form
                ) -> Response:
    """Disable (pending deliveries are cancelled) or enable the endpoint."""
    settings = get_settings(request)
    enabled = form.get("enabled") == "true"
    with get_db(request).write() as session:
        service.update_endpoint(session, operator.account_id, endpoint_id,
                                EndpointUpdate(enabled=enabled), settings.webhooks)
    return see_other(f"/console/webhooks/{endpoint_id}")
