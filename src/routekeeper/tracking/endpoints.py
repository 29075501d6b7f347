"""HTTP endpoints of tracking: devices, location uploads (three protocols), public tracking.

Uploads answer after the positions are stored and queued for the tracking processor
(``processor.py``), so a 200 means "stored durably": visits, ETAs, risks and webhooks follow
within the processing lag.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from routekeeper.accounts.auth import (
    BASIC_AUTH,
    TOKEN_AUTH,
    CurrentAccount,
    current_account,
    parse_basic,
    unauthorized,
)
from routekeeper.accounts.limits import client_address, guard
from routekeeper.core.bodies import json_body
from routekeeper.core.errors import ApiError, invalid_field
from routekeeper.core.pagination import page_keys
from routekeeper.core.query_filters import QueryLimit
from routekeeper.core.responses import (
    NO_STORE,
    R400,
    R401,
    R404,
    R404_EITHER,
    R409,
    R413,
    R422,
)
from routekeeper.core.routing import Router
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession, get_db, get_settings
from routekeeper.tracking import clock, devices, keys, repository
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.ingest import DeviceRef, KeyCredential
from routekeeper.tracking.locations_body import LocationsBody, locations_body
from routekeeper.tracking.protocols import (
    parse_osmand,
    parse_owntracks,
    parse_traccar_json,
    query_parameters,
)
from routekeeper.tracking.public import TrackingResponse, tracking_view
from routekeeper.tracking.schemas import (
    DeviceCreate,
    DevicePage,
    DeviceRead,
    DeviceUpdate,
    DeviceWithKey,
    IngestResult,
    LocationsIn,
)
from routekeeper.tracking.uploads import UploadWriter
from routekeeper.workers.schemas import is_handle

router = Router(tags=["Devices"])
public_router = Router(tags=["Tracking"])



def _merge(*parts: Mapping[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    return {status: doc for part in parts for status, doc in part.items()}


LISTED = _merge(R401, R422)
ONE = _merge(R401, R404, R422)
# A device's worker that does not exist is a 404 in the Error shape (driver_not_found).
CREATE = _merge(R400, R401, R404_EITHER, R409, R422)
UPLOAD = _merge(R400, R401, R404, R413, R422)
DEVICE_PROTOCOL = _merge(R400, R401, R413, R422)
# Bodies that endpoints here read themselves: the app puts their schemas in the API document
# (``core.bodies.document_bodies``), which FastAPI does only for declared bodies.
READ_BODIES = (LocationsIn,)


def upload_writer(request: Request) -> UploadWriter:
    """The app's upload writer (``uploads.py``)."""
    writer: UploadWriter = request.app.state.uploads
    return writer


async def _upload(request: Request, device: KeyCredential | DeviceRef, fixes: list[Fix]
                  ) -> IngestResult:
    """Hand an upload to the writer and wait until its group committed."""
    limit = get_settings(request).tracking.max_batch
    # Every protocol ends here: one bound for all of them (each also checks before parsing).
    if len(fixes) > limit:
        raise invalid_field("json", "locations", f"At most {limit} locations per request.")
    address = client_address(request)
    try:
        return await asyncio.wrap_future(
            upload_writer(request).submit(device, fixes, address=address))
    except ApiError as exc:
        if exc.status_code == 401 and isinstance(device, KeyCredential):
            # An ingest key is a credential: failures from an address are limited like
            # passwords (the group checked the address's failures before the key).
            await run_in_threadpool(guard(request).failed, address, None)
        raise


@router.post("/devices/", status_code=201, response_model=DeviceWithKey, responses=CREATE,
             dependencies=NO_STORE)
def create_device(body: DeviceCreate, account: CurrentAccount, session: WriteSession
                  ) -> DeviceWithKey:
    """Register a device for a worker; the answer carries its ingest key (shown only here)."""
    return devices.create_device(session, account.account_id, body)


@router.get("/devices/", response_model=DevicePage, responses=LISTED)
def list_devices(account: CurrentAccount, session: ReadSession, settings: SettingsDep,
                 limit: QueryLimit = 50, pagination_token: str | None = None,
                 worker_handle: str | None = None) -> DevicePage:
    """List the account's devices by id, optionally those of one worker."""
    if worker_handle is not None and not is_handle(worker_handle):
        raise invalid_field("query", "worker_handle", "Not a valid worker handle.")
    rows, token = devices.list_devices(
        session, account.account_id, limit=limit, token=pagination_token,
        worker_handle=worker_handle,
        secret=page_keys(settings.signing_keys, "devices", account.account_id))
    return DevicePage(devices=[devices.device_read(d) for d in rows], pagination_token=token)


@router.get("/devices/{device_id}", response_model=DeviceRead, responses=ONE)
def get_device(device_id: str, account: CurrentAccount, session: ReadSession) -> DeviceRead:
    """One device with its newest position."""
    return devices.device_read(devices.get_device(session, account.account_id, device_id))


@router.patch("/devices/{device_id}", response_model=DeviceRead, responses=CREATE)
def update_device(device_id: str, body: DeviceUpdate, account: CurrentAccount,
                  session: WriteSession) -> DeviceRead:
    """Rename a device, change its metadata or move it to another worker."""
    device = devices.update_device(session, account.account_id, device_id, body)
    session.flush()
    return devices.device_read(device)


@router.delete("/devices/{device_id}", status_code=204, response_class=Response,
               responses=ONE)
def delete_device(device_id: str, account: CurrentAccount, session: WriteSession) -> Response:
    """Delete a device: its key is refused from now on; stored positions are kept."""
    devices.delete_device(session, account.account_id, device_id)
    return Response(status_code=204)


@router.post("/devices/{device_id}/rotate-key", response_model=DeviceWithKey, responses=ONE,
             dependencies=NO_STORE)
def rotate_key(device_id: str, account: CurrentAccount, session: WriteSession) -> DeviceWithKey:
    """Replace the device's ingest key; the old key is refused from now on."""
    return devices.rotate_key(session, account.account_id, device_id)


async def upload_credentials(
    request: Request,
    device_id: str,
    _basic: Annotated[None, Security(BASIC_AUTH)],
    _token: Annotated[None, Security(TOKEN_AUTH)],
) -> KeyCredential | None:
    """Read an upload's credentials before its body: an ingest key (``Bearer rkd_...``, checked
    when its upload is written); None for account credentials, which
    :func:`_account_device` checks; a 401 without any."""
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized("Use the device's ingest key as a Bearer token, or account "
                           "credentials.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and keys.looks_like_key(token.strip()):
        return KeyCredential(token.strip(), device_id=device_id)
    return None


def _account_device(request: Request, device_id: str) -> DeviceRef:
    """The account's device named in the path, after checking the account's credentials."""
    account = current_account(request, None, None)
    with get_db(request).read() as session:
        device = (repository.get_device(session, account.account_id, device_id)
                  if is_handle(device_id) else None)
        if device is None:
            raise devices.device_not_found(device_id)
        return DeviceRef.of(device)


# The body is read by hand (``locations_body.py``: FastAPI's reading of a declared
# ``LocationsIn`` was most of a batch's time on the event loop), and documented as declared.
# Its dependency comes before the credentials', as FastAPI reads a declared body first.
@router.post("/devices/{device_id}/locations", response_model=IngestResult, responses=UPLOAD,
             openapi_extra=json_body(LocationsIn))
async def post_locations(
    request: Request, device_id: str,
    body: Annotated[LocationsBody, Depends(locations_body)],
    key: Annotated[KeyCredential | None, Depends(upload_credentials)],
) -> IngestResult:
    """Upload positions (up to ``tracking.max_batch``); account credentials or the device's
    ingest key as a Bearer token. Implausible positions are refused one by one, with reasons."""
    # A malformed body is a 422 before the account's device is looked up, as it was.
    fixes = body.validated()
    device = key if key is not None else await run_in_threadpool(_account_device, request,
                                                                 device_id)
    return await _upload(request, device, fixes)


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("json", "_schema", "Invalid JSON body.") from exc


def _key(key: str | None) -> KeyCredential:
    if not key:
        raise unauthorized("Unknown or revoked ingest key.")
    return KeyCredential(key)


class _IngestAnswer(JSONResponse):
    """An upload's answer rendered by pydantic's own serializer, the same JSON without the
    dict and ``json.dumps`` in between (phones get one answer a fix)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, IngestResult)
        return content.model_dump_json().encode()


def _answer(result: IngestResult) -> JSONResponse:
    return _IngestAnswer(result)


async def osmand_request(request: Request) -> JSONResponse:
    """OsmAnd / Traccar Client: parameters in the query or a form body, or Traccar's JSON."""
    params = query_parameters(request.scope.get("query_string", b""))
    location = "query"
    if not params:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            key, fixes = parse_traccar_json(
                _decode_json(raw), max_items=get_settings(request).tracking.max_batch)
            return _answer(await _upload(request, _key(key), fixes))
        # Like Traccar: a body without a JSON content type is read as a query string.
        params = query_parameters(raw)
        location = "form"
    key, fix = parse_osmand(params, location=location, received_at=clock.now())
    return _answer(await _upload(request, _key(key), [fix]))


OSMAND_DOC = (
    "OsmAnd live tracking and Traccar Client. The ingest key is the device identifier: "
    "`id` (or `deviceid`) in the query or a form body, or `device_id` of the JSON body "
    "Traccar Client 9 posts. `speed` is in knots, `timestamp` Unix seconds or ISO-8601. "
    "An unknown key is a 401 and nothing is stored."
)


def _query_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}


# The query parameters of OsmAnd's protocol, for the API document only: the request itself is
# parsed by ``osmand_request`` (which also reads form and JSON bodies). Declared as parameters
# of the endpoint, FastAPI would validate them into an unused value on every fix (5 % of a
# single-fix upload's time).
OSMAND_PARAMETERS = {"parameters": [
    _query_parameter("id", "The ingest key (also `deviceid`)."),
    _query_parameter("lat", "Latitude, degrees."),
    _query_parameter("lon", "Longitude, degrees."),
    _query_parameter("timestamp", "Unix seconds or ISO-8601; the time of receipt when absent."),
    _query_parameter("speed", "knots"),
    _query_parameter("bearing", "Degrees from north."),
    _query_parameter("altitude", "Meters."),
    _query_parameter("accuracy", "Meters."),
    _query_parameter("batt", "percent"),
]}


@public_router.get("/osmand", response_model=IngestResult, responses=DEVICE_PROTOCOL,
                   description=OSMAND_DOC, openapi_extra=OSMAND_PARAMETERS)
async def osmand_get(request: Request) -> JSONResponse:
    """OsmAnd protocol, parameters in the query string."""
    return await osmand_request(request)


@public_router.post("/osmand", response_model=IngestResult, responses=DEVICE_PROTOCOL,
                    description=OSMAND_DOC, openapi_extra=OSMAND_PARAMETERS)
async def osmand_post(request: Request) -> JSONResponse:
    """OsmAnd protocol: query string, form body, or Traccar Client's JSON body."""
    return await osmand_request(request)


def _owntracks_device(request: Request) -> KeyCredential:
    credentials = parse_basic(request.headers.get("authorization") or "")
    if credentials is None:
        raise unauthorized("Use HTTP Basic with the device id and its ingest key.")
    return KeyCredential(credentials[1], device_id=credentials[0])


@public_router.post(
    "/owntracks", response_model=list[Any], responses=DEVICE_PROTOCOL,
    description="OwnTracks in HTTP mode: HTTP Basic with the device id as user and the ingest "
                "key as password; `_type: location` messages are stored (`vel` in km/h), other "
                "types are acknowledged and ignored. Answers `[]`, as OwnTracks expects.")
async def owntracks(request: Request) -> JSONResponse:
    """OwnTracks HTTP mode."""
    device = _owntracks_device(request)
    fix = parse_owntracks(_decode_json(await request.body()))
    # Without a location there is nothing to store, but the credentials must still be good
    # (OwnTracks shows a 401): an empty upload checks them.
    await _upload(request, device, [fix] if fix is not None else [])
    return JSONResponse([])


@public_router.get("/tracking/{tracking_id}", response_model=TrackingResponse,
                   responses=_merge(R404, R422))
def public_tracking(tracking_id: str, session: ReadSession, settings: SettingsDep,
                    include_inferences: bool = False) -> TrackingResponse:
    """Public tracking of one order (no authentication): the link's order and, while it is
    under way, where its worker is."""
    return tracking_view(session, tracking_id, settings)

