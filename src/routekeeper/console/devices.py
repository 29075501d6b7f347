"""Devices in the console: register one (its ingest key shown once, with the settings to
type or scan into the phone's app), list them, revoke one."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from routekeeper.console.auth import Form, Operator, SignedIn
from routekeeper.console.render import page, see_other
from routekeeper.console.webhooks import error_text
from routekeeper.core.errors import ApiError
from routekeeper.core.pagination import page_keys
from routekeeper.dependencies import get_db, get_settings
from routekeeper.tracking import devices
from routekeeper.tracking.schemas import DeviceCreate

router = APIRouter(prefix="/console/devices", include_in_schema=False)


def phone_setup(public_url: str, device_id: str, key: str) -> dict[str, Any]:
    """What a phone app needs, and the QR code of it.

    OsmAnd and Traccar Client speak the OsmAnd protocol, where the ingest key is the device
    identifier; the QR code holds that URL with the key (``…/osmand?id=<key>``), which OsmAnd
    takes as its tracking address and from which Traccar Client's two fields can be read.
    OwnTracks (HTTP mode) uses HTTP Basic with the device id and the key.
    """
    base = public_url.rstrip("/")
    osmand = f"{base}/osmand?id={key}"
    qr = segno.make(osmand, error="m")
    svg = qr.svg_inline(scale=4, border=4, title="QR code of the tracking address")
    return {"server_url": f"{base}/osmand", "identifier": key, "osmand_url": osmand,
            "owntracks_url": f"{base}/owntracks", "owntracks_user": device_id, "qr_svg": svg}


def _list_context(request: Request, operator: Operator) -> dict[str, Any]:
    settings = get_settings(request)
    with get_db(request).read() as session:
        rows, _ = devices.list_devices(session, operator.account_id, limit=200, token=None,
                                       worker_handle=None,
                                       secret=page_keys(settings.signing_keys, "devices",
                                                        operator.account_id))
        listed = [devices.device_read(row) for row in rows]
    return {"account": operator, "csrf": operator.csrf, "devices": listed,
            "device_id": "", "worker_handle": ""}


@router.get("")
def devices_page(request: Request, operator: SignedIn) -> HTMLResponse:
    """The account's devices and the form to register one."""
    return page(request, "devices.html", _list_context(request, operator))


@router.post("")
def register(request: Request, operator: SignedIn, form: Form) -> Response:
    """Register a device for a worker and show its ingest key and QR code once."""
    device_id = form.get("device_id", "").strip()
    worker_handle = form.get("worker_handle", "").strip()
    try:
        body = DeviceCreate(device_id=device_id, worker_handle=worker_handle,
                            name=form.get("name") or None)
        with get_db(request).write() as session:
            created = devices.create_device(session, operator.account_id, body)
    except (ApiError, ValidationError) as exc:
        return page(request, "devices.html", {
            **_list_context(request, operator), "device_id": device_id,
            "worker_handle": worker_handle,
            "error": f"The device was not registered: {error_text(exc)}"}, status_code=422)
    setup = phone_setup(get_settings(request).public_url, created.device_id, created.ingest_key)
    return page(request, "device_key.html", {
        "account": operator, "csrf": operator.csrf, "device": created, **setup,
        "notice": f"Device {created.device_id} was registered for {created.worker_handle}."})


@router.post("/{device_id}/revoke")
def revoke(request: Request, device_id: str, operator: SignedIn, _form: Form) -> Response:
    """Remove a device: its ingest key is refused from now on (positions are kept)."""
    with get_db(request).write() as session:
        devices.delete_device(session, operator.account_id, device_id)
    return see_other("/console/devices")
