"""HTTP endpoints of exports (contract section 2.9): the orders' and the workers' export
jobs, and the signed download of local files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import FileResponse

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.errors import HttpError
from routekeeper.core.responses import R400, R401, R404_CODED, R409, R422
from routekeeper.core.routing import Router
from routekeeper.dependencies import GeocoderDep, ReadSession, SettingsDep, WriteSession
from routekeeper.exports import repository, service
from routekeeper.exports.schemas import (
    ExportKind,
    ExportStatus,
    OrderExportCreated,
    OrderExportRequest,
    OrderExportStatusBody,
    WorkerExportRequest,
)
from routekeeper.exports.storage import LOCAL, LocalStorage, download_name, verify_download
from routekeeper.geocoding.service import require_for_region_filter

router = Router(tags=["Orders", "Export"])

# Merged by comprehension: core.responses types its pieces with int keys only. The 400 is
# core.handlers' answer to a body that is not decodable JSON.
_CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: doc for part in (R400, R401, R409, R422) for code, doc in part.items()
}
_STATUS_ERRORS: dict[int | str, dict[str, Any]] = {
    code: doc for part in (R401, R404_CODED, R422) for code, doc in part.items()
}


IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


def _created(
    body: OrderExportRequest | WorkerExportRequest, kind: ExportKind, *,
    account: CurrentAccount, session: WriteSession, settings: SettingsDep,
    idempotency_key: str | None,
) -> dict[str, Any]:
    mail_configured = bool(settings.mail.host)
    export = service.create_export(
        session, account.account_id, body, contact_email=account.contact_email,
        idempotency_key=idempotency_key, mail_configured=mail_configured, kind=kind,
    )
    return {"job_id": export.id, "status": export.status,
            "message": service.created_message(export, mail_configured=mail_configured)}


@router.post(
    "/orders/export", status_code=201, response_model=OrderExportCreated,
    responses=_CREATE_ERRORS,
)
def create_export(
    body: OrderExportRequest,
    account: CurrentAccount,
    session: WriteSession,
    settings: SettingsDep,
    geocoder: GeocoderDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Start an export of every order matching the filters to a CSV.gz file."""
    if body.region_filter:
        require_for_region_filter(geocoder, "json")
    return _created(body, ExportKind.ORDERS, account=account, session=session,
                    settings=settings, idempotency_key=idempotency_key)


@router.get(
    "/orders/export/{job_id}", response_model=OrderExportStatusBody,
    responses=_STATUS_ERRORS,
)
def get_export(
    job_id: str, account: CurrentAccount, session: ReadSession, settings: SettingsDep
) -> dict[str, Any]:
    """The state of an export job, with its download link once completed."""
    export = service.get_export(session, account.account_id, job_id)
    return service.status_body(export, settings)


@router.post(
    "/workers/export", status_code=201, response_model=OrderExportCreated,
    responses=_CREATE_ERRORS, tags=["Workers", "Export"],
)
def create_worker_export(
    body: WorkerExportRequest,
    account: CurrentAccount,
    session: WriteSession,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Start an export of every worker GET /workers/ lists with these filters to a CSV.gz
    file (the orders' export job: same shapes, links and email)."""
    return _created(body, ExportKind.WORKERS, account=account, session=session,
                    settings=settings, idempotency_key=idempotency_key)


@router.get(
    "/workers/export/{job_id}", response_model=OrderExportStatusBody,
    responses=_STATUS_ERRORS, tags=["Workers", "Export"],
)
def get_worker_export(
    job_id: str, account: CurrentAccount, session: ReadSession, settings: SettingsDep
) -> dict[str, Any]:
    """The state of a workers' export job, with its download link once completed."""
    export = service.get_export(session, account.account_id, job_id, kind=ExportKind.WORKERS)
    return service.status_body(export, settings)


def _forbidden() -> HttpError:
    # One answer for every bad link: nothing tells a forger what was wrong.
    return HttpError(403, "Forbidden")


@router.get("/exports/download/{job_id}", include_in_schema=False)
def download_export(
    job_id: str,
    session: ReadSession,
    settings: SettingsDep,
    expires: str | None = None,
    signature: str | None = None,
) -> FileResponse:
    """Serve a finished local export file to whoever holds its signed, unexpired link."""
    if not verify_download(settings.signing_keys, job_id, expires, signature):
        raise _forbidden()
    export = repository.find_by_id(session, job_id)
    if (export is None or export.status != ExportStatus.COMPLETED
            or export.storage != LOCAL or not export.storage_key):
        raise HttpError(404, "Export file not found")
    storage = LocalStorage(settings.exports.local_dir, secret=settings.signing_keys.current,
                           public_url=settings.public_url)
    path = storage.path(export.storage_key)
    if not path.is_file():
        raise HttpError(404, "Export file not found")
    return FileResponse(path, media_type="application/gzip",
                        filename=download_name(job_id, export.kind))
