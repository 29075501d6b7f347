"""Export rules: creation with idempotency keys, the status shape, and final states.

Nothing here commits: the request's session (or the job's final transaction) commits the
export row, its job, its outbox event and its mail job together, or none of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, conflict
from routekeeper.core.ids import new_id
from routekeeper.core.jobs import enqueue
from routekeeper.exports import repository
from routekeeper.exports.mail import ExportOutcome
from routekeeper.exports.schemas import (
    FINAL_STATUSES,
    ExportKind,
    ExportStatus,
    MailStatus,
    OrderExportRequest,
    WorkerExportRequest,
)
from routekeeper.exports.storage import storage_named
from routekeeper.models.order_export import OrderExport
from routekeeper.settings import Settings
from routekeeper.webhooks.outbox import record_event

log = logging.getLogger(__name__)

GENERATE_TASK = "exports.generate"
MAIL_TASK = "exports.mail"
# Crashes and errors a generation survives before the export is reported failed.
GENERATE_MAX_ATTEMPTS = 5


def export_not_found(export_id: str) -> CodedError:
    """The 404 of an unknown export, in the ``Error`` shape."""
    return CodedError(404, "export_not_found", "Export job not found",
                      {"description": f"Export job not found for job_id {export_id}"})


ExportRequest = OrderExportRequest | WorkerExportRequest


def status_path(kind: str) -> str:
    """Where a client polls an export of this kind."""
    return f"/{kind}/export/{{job_id}}"


def _recipients(body: ExportRequest, contact_email: str | None) -> list[str]:
    # Missing, null or empty: the account's contact email, as HyperTrack falls back.
    given = [str(address) for address in body.email_recipients or []]
    chosen = given or ([contact_email] if contact_email else [])
    return list(dict.fromkeys(chosen))


def _digest(kind: ExportKind, filters: dict[str, Any], recipients: list[str]) -> str:
    # The kind is part of the request: a key used for an order export is not a worker
    # export's key as well.
    request: dict[str, Any] = {"filters": filters, "email_recipients": recipients}
    if kind != ExportKind.ORDERS:
        request["kind"] = kind.value
    canonical = json.dumps(request,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_export(
    session: Session,
    account_id: str,
    body: ExportRequest,
    *,
    contact_email: str | None,
    idempotency_key: str | None,
    mail_configured: bool = True,
    kind: ExportKind = ExportKind.ORDERS,
) -> OrderExport:
    """A new export (of orders or workers) and its job; with a known Idempotency-Key, the
    export made with it.

    Its ``mail_status`` says from the start whether an email will follow: ``pending``, or
    ``not_configured`` (no SMTP server) or ``no_recipients``."""
    filters = body.filters()
    recipients = _recipients(body, contact_email)
    digest = _digest(kind, filters, recipients)
    if idempotency_key is not None:
        existing = repository.find_by_key(session, account_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest)
    now = utcnow()
    export_id = new_id()
    try:
        # A savepoint: when a concurrent request with the same key wins the unique index,
        # only this insert is undone and its export is answered instead.
        with session.begin_nested():
            job = enqueue(session, GENERATE_TASK, {"export_id": export_id},
                          account_id=account_id, max_attempts=GENERATE_MAX_ATTEMPTS)
            job.id = export_id  # one id for the export and its job, the wire's ``job_id``
            export = OrderExport(
                account_id=account_id, id=export_id, status=ExportStatus.PENDING.value,
                kind=kind.value, filters=filters, email_recipients=recipients,
                idempotency_key=idempotency_key,
                request_digest=digest, rows_processed=0, mail_attempts=0,
                mail_status=(MailStatus.NO_RECIPIENTS if not recipients
                             else MailStatus.PENDING if mail_configured
                             else MailStatus.NOT_CONFIGURED).value,
                created_at=now, updated_at=now,
            )
            session.add(export)
            session.flush()
    except IntegrityError:
        if idempotency_key is None:
            raise
        existing = repository.find_by_key(session, account_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, digest)
    return export


def _replay(existing: OrderExport, digest: str) -> OrderExport:
    if existing.request_digest != digest:
        raise conflict(
            "idempotency_key_reused", "Idempotency-Key already used with another request",
            {"description": "This Idempotency-Key was used for an export with other "
                            "filters or recipients; use a new key for a new export."},
        )
    return existing


def recent_exports(session: Session, account_id: str, *, limit: int = 20) -> list[OrderExport]:
    """The account's newest exports, newest first."""
    return repository.recent(session, account_id, limit=limit)


def get_export(
    session: Session, account_id: str, export_id: str, *, kind: ExportKind = ExportKind.ORDERS
) -> OrderExport:
    """The account's export of this kind, or a 404 ``export_not_found``."""
    export = repository.find(session, account_id, export_id)
    if export is None or export.kind != kind.value:
        raise export_not_found(export_id)
    return export


def download_url(export: OrderExport, settings: Settings) -> str | None:
    """The export's download link while it is completed and unexpired, else None."""
    if (export.status != ExportStatus.COMPLETED or not export.storage_key
            or export.storage is None or export.expires_at is None
            or export.expires_at <= utcnow()):
        return None
    try:
        storage = storage_named(export.storage, settings)
        return storage.download_url(export.id, export.storage_key, export.expires_at,
                                    kind=export.kind)
    except Exception:
        # A store that cannot presign right now (credentials, missing boto3) must not turn
        # a status request into a 500: the link is simply absent until it can be made.
        log.exception("export %s: could not build its download link", export.id)
        return None


def status_body(export: OrderExport, settings: Settings) -> dict[str, Any]:
    """The ``OrderExportStatusResponse`` of an export (with our additions)."""
    return {
        "job_id": export.id,
        "status": export.status,
        "rows_processed": export.rows_processed,
        "presigned_url": download_url(export, settings),
        "expires_at": export.expires_at,
        "error_message": export.error_message,
        "mail_status": export.mail_status,
        "mail_error": export.mail_error,
        "created_at": export.created_at,
        "started_at": export.started_at,
        "completed_at": export.completed_at,
    }


def created_message(export: OrderExport, *, mail_configured: bool = True) -> str:
    """The ``message`` of the 201 answer: it promises an email only when one can be sent."""
    if export.status in FINAL_STATUSES:
        return f"Export job already {export.status}."
    poll = f"GET {status_path(export.kind)}"
    if export.email_recipients and not mail_configured:
        return ("Export job created. No mail server is configured (ROUTEKEEPER_MAIL__HOST), "
                f"so no email will be sent to {', '.join(export.email_recipients)}: poll "
                f"{poll} for the download link.")
    if export.email_recipients:
        return ("Export job created; the download link will be emailed to "
                f"{', '.join(export.email_recipients)} when it is ready.")
    return f"Export job created; poll {poll} for the download link."


def begin_run(session: Session, account_id: str, export_id: str) -> OrderExport | None:
    """Mark the export processing for a (re)started run; None if it needs no run."""
    export = repository.find(session, account_id, export_id)
    if export is None or export.status in FINAL_STATUSES:
        return None
    now = utcnow()
    export.status = ExportStatus.PROCESSING.value
    export.started_at = export.started_at or now
    # A re-run after a crash starts over: a fresh snapshot and a fresh file.
    export.rows_processed = 0
    export.updated_at = now
    return export


def _finish(session: Session, export: OrderExport, settings: Settings) -> None:
    """The outbox event and the email of a final state, in the same transaction as it."""
    record_event(
        session, account_id=export.account_id, type="export", value=export.status,
        data={"job_id": export.id, "kind": export.kind, "status": export.status,
              "rows_processed": export.rows_processed},
    )
    if not settings.mail.host:
        export.mail_status = MailStatus.NOT_CONFIGURED.value
    elif not export.email_recipients:
        export.mail_status = MailStatus.NO_RECIPIENTS.value
    else:
        export.mail_status = MailStatus.QUEUED.value
        enqueue(session, MAIL_TASK, {"export_id": export.id}, account_id=export.account_id)


def complete(
    session: Session,
    account_id: str,
    export_id: str,
    *,
    storage: str,
    key: str,
    rows: int,
    size_bytes: int,
    settings: Settings,
) -> OrderExport:
    """Record a finished file: completed, its link's expiry, event and email."""
    export = repository.find(session, account_id, export_id)
    assert export is not None, "an export row outlives its running job"
    now = utcnow()
    export.status = ExportStatus.COMPLETED.value
    export.rows_processed = rows
    export.storage = storage
    export.storage_key = key
    export.size_bytes = size_bytes
    export.error_message = None
    export.completed_at = now
    export.expires_at = now + timedelta(seconds=settings.exports.link_ttl_s)
    export.updated_at = now
    _finish(session, export, settings)
    return export


def fail(session: Session, export: OrderExport, reason: str, settings: Settings) -> None:
    """Record that the export will not be produced, with its event and email."""
    export.status = ExportStatus.FAILED.value
    export.error_message = reason
    export.updated_at = utcnow()
    _finish(session, export, settings)


def outcome(export: OrderExport, settings: Settings) -> ExportOutcome:
    """What the export's email reports."""
    return ExportOutcome(
        export_id=export.id, kind=export.kind, status=export.status, rows=export.rows_processed,
        url=download_url(export, settings), expires_at=export.expires_at,
        error=export.error_message,
    )


def set_mail_state(
    session: Session, account_id: str, export_id: str, status: MailStatus, *,
    error: str | None, attempts: int | None = None,
) -> None:
    """Record the state of the export's email."""
    export = repository.find(session, account_id, export_id)
    if export is None:
        return
    export.mail_status = status.value
    export.mail_error = error[:1000] if error else None
    if attempts is not None:
        export.mail_attempts = attempts
    export.updated_at = utcnow()
