"""Export jobs: generate the file, send the email, sweep up abandoned and expired exports.

A generation run writes a staged file from one database snapshot, fsyncs it, publishes it
under a key of its own attempt, and only then, in one transaction, marks the export
completed, writes the outbox event, queues the email and completes the job (fenced by the
lease). A crash anywhere before that commit leaves the export unfinished and the job due
again once its lease expires; the next run starts over and deletes what earlier attempts
left behind. A file is therefore linked only if it was finished by the run that committed.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext, LeaseLost, Retry, backoff_s, registry
from routekeeper.exports import repository, service
from routekeeper.exports.columns import header
from routekeeper.exports.mail import PermanentMailError, build_message, send_message
from routekeeper.exports.schemas import ExportKind, MailStatus
from routekeeper.exports.storage import (
    ExportStorage,
    configured_storage,
    export_key,
    storage_named,
)
from routekeeper.exports.workers import worker_batches, worker_header
from routekeeper.exports.writer import CsvGzWriter, csv_bytes
from routekeeper.models.order_export import OrderExport
from routekeeper.orders.filters import OrderFilters
from routekeeper.settings import Settings

log = logging.getLogger(__name__)

# Delivery attempts of one email (server down, 4xx) before mail_status becomes failed.
MAIL_MAX_ATTEMPTS = 8
SWEEP_EVERY_S = 300
# How often a running export heartbeats and records rows_processed.
PROGRESS_EVERY_S = 1.0


@registry.register(service.GENERATE_TASK, max_attempts=service.GENERATE_MAX_ATTEMPTS)
def generate_export(ctx: JobContext) -> None:
    """Stream the export's orders (or workers) into a CSV.gz file, publish it, then mark it
    completed."""
    settings: Settings = ctx.env["settings"]
    export_id = str(ctx.payload["export_id"])
    with ctx.db.write() as session:
        export = service.begin_run(session, _account(ctx), export_id)
        if export is None:
            ctx.complete(session)  # already final (or gone): nothing to redo
            return
    # From here on ``export`` is the row as begun, detached: its id, account, kind and
    # filters do not change while the run goes on.
    storage = configured_storage(settings)
    key = export_key(export.account_id, export.id, ctx.attempt)
    started = time.monotonic()
    try:
        _discard_earlier_attempts(storage, export, ctx.attempt)
        rows, size = _write_and_publish(ctx, settings, storage, export, key)
    except LeaseLost:
        _clean_up(storage, key)
        raise
    except Exception as exc:
        _clean_up(storage, key)
        if ctx.attempt < ctx.max_attempts:
            raise  # the runner retries it with backoff
        log.exception("export %s failed for good", export.id)
        with ctx.db.write() as session:
            current = repository.find(session, export.account_id, export.id)
            assert current is not None
            service.fail(session, current, _failure_reason(exc, ctx.attempt), settings)
            ctx.complete(session)
        return
    try:
        with ctx.db.write() as session:
            service.complete(session, export.account_id, export.id, storage=storage.name,
                             key=key, rows=rows, size_bytes=size, settings=settings)
            ctx.complete(session)
        elapsed = max(time.monotonic() - started, 1e-6)
        metrics.EXPORT_ROWS.inc(rows)
        metrics.EXPORT_ROWS_PER_S.observe(rows / elapsed)
    except LeaseLost:
        # Another worker owns the export now; the file it commits is the one to keep.
        _clean_up(storage, key)
        raise


def _account(ctx: JobContext) -> str:
    # Export jobs are always enqueued for an account; every query of theirs names it.
    assert ctx.account_id is not None, f"export job {ctx.job_id} has no account"
    return ctx.account_id


def _clean_up(storage: ExportStorage, key: str) -> None:
    """Delete this run's file; a failure here must not hide the error being handled."""
    try:
        storage.delete(key)
    except Exception:
        log.exception("could not delete export file %s", key)


def _failure_reason(exc: Exception, attempts: int) -> str:
    # The tenant sees the kind of error; the details (paths, SQL) stay in the logs.
    return (f"The export failed after {attempts} attempts ({type(exc).__name__}); "
            "the service's logs have the details.")


def _discard_earlier_attempts(storage: ExportStorage, export: OrderExport, attempt: int) -> None:
    # Files of earlier attempts can never be linked: this run holds the lease, so no
    # earlier run can commit. They are what a crash between publish and commit left.
    for earlier in range(1, attempt):
        storage.delete(export_key(export.account_id, export.id, earlier))


def _as_csv(batches: Iterator[list[Any]]) -> Iterator[tuple[bytes, int]]:
    """SQLite: driver rows (cells, then the key) as CSV bytes, formatted by ``csv.writer``."""
    for batch in batches:
        yield csv_bytes([row[: -repository.KEY_WIDTH] for row in batch]), len(batch)


def _order_rows(
    ctx: JobContext, session: Session, settings: Settings, export: OrderExport
) -> Iterator[tuple[bytes, int]]:
    """The orders the export's filters select, as CSV bytes and a row count per batch."""
    filters = OrderFilters.model_validate(export.filters)
    descending = filters.sort_direction.value == "desc"
    batch_rows = settings.exports.batch_rows
    if ctx.db.is_postgres:
        # The database writes the CSV (COPY); the worker compresses it.
        query = repository.export_query(session, export.account_id, filters,
                                        settings.public_url, with_key=False)
        return repository.csv_batches(session, query, descending=descending,
                                      batch_rows=batch_rows)
    query = repository.export_query(session, export.account_id, filters, settings.public_url)
    return _as_csv(repository.batches(session, query, descending=descending,
                                      batch_rows=batch_rows))


def _write_and_publish(
    ctx: JobContext, settings: Settings, storage: ExportStorage, export: OrderExport, key: str
) -> tuple[int, int]:
    """Write every matching row from one snapshot to a staged file, then publish it."""
    staged = storage.staging_path(key)
    rows = 0
    with repository.snapshot(ctx.db) as session:
        if export.kind == ExportKind.WORKERS:
            columns = worker_header()
            source = worker_batches(session, export.account_id, export.filters,
                                    batch_rows=settings.exports.batch_rows)
        else:
            columns = header()
            source = _order_rows(ctx, session, settings, export)
        with CsvGzWriter(staged, columns) as writer, repository.read_ahead(source) as ahead:
            reported_at: float | None = None
            for data, count in ahead:
                writer.write_csv(data)
                rows += count
                # Prove the lease is still ours and show progress: after the first batch,
                # then at most once a PROGRESS_EVERY_S (each is a commit, an fsync).
                now = time.monotonic()
                if reported_at is None or now - reported_at >= PROGRESS_EVERY_S:
                    ctx.heartbeat()
                    with ctx.db.write() as progress:
                        repository.set_progress(progress, export.account_id, export.id,
                                                rows)
                    reported_at = now
            size = writer.close()
    ctx.heartbeat()
    storage.publish(staged, key)
    return rows, size


@registry.register(service.MAIL_TASK)
def mail_export(ctx: JobContext) -> None:
    """Email the export's link (or its error); failures retry and never touch the export."""
    settings: Settings = ctx.env["settings"]
    export_id = str(ctx.payload["export_id"])
    with ctx.db.read() as session:
        export = repository.find(session, _account(ctx), export_id)
        pending = (MailStatus.QUEUED.value, MailStatus.RETRYING.value)
        if export is None or export.mail_status not in pending:
            export = None  # sent, given up or gone: nothing to do
        else:
            outcome = service.outcome(export, settings)
            recipients = list(export.email_recipients)
            attempts = export.mail_attempts
    if export is None:
        with ctx.db.write() as session:
            ctx.complete(session)
        return
    if not settings.mail.host:
        _mail_done(ctx, export_id, MailStatus.NOT_CONFIGURED, None)
        return
    message = build_message(outcome, sender=settings.mail.sender, recipients=recipients)
    try:
        refused = send_message(message, settings.mail)
    except PermanentMailError as exc:
        _mail_done(ctx, export_id, MailStatus.FAILED, str(exc), attempts + 1)
        return
    except (smtplib.SMTPException, OSError) as exc:
        attempts += 1
        reason = f"{type(exc).__name__}: {exc}"
        if attempts >= MAIL_MAX_ATTEMPTS:
            _mail_done(ctx, export_id, MailStatus.FAILED, reason, attempts)
            return
        with ctx.db.write() as session:
            service.set_mail_state(session, _account(ctx), export_id, MailStatus.RETRYING,
                                   error=reason, attempts=attempts)
        raise Retry(backoff_s(attempts, settings.jobs), reason) from exc
    error = "; ".join(f"refused {a}: {why}" for a, why in refused.items()) or None
    _mail_done(ctx, export_id, MailStatus.SENT, error, attempts + 1)


def _mail_done(
    ctx: JobContext, export_id: str, status: MailStatus, error: str | None,
    attempts: int | None = None,
) -> None:
    with ctx.db.write() as session:
        service.set_mail_state(session, _account(ctx), export_id, status, error=error,
                               attempts=attempts)
        ctx.complete(session)


@registry.register("exports.sweep", every_s=SWEEP_EVERY_S)
def sweep_exports(ctx: JobContext) -> None:
    """Fail exports whose job gave up, and delete files whose links have expired."""
    settings: Settings = ctx.env["settings"]
    with ctx.db.write() as session:
        for export in repository.abandoned(session):
            log.error("export %s: its job gave up; marking it failed", export.id)
            service.fail(session, export, "The export job stopped before finishing; "
                                          "please request a new export.", settings)
    with ctx.db.read() as session:
        expired = [(e.account_id, e.id, e.storage, e.storage_key)
                   for e in repository.expired_files(session, utcnow())]
    for account_id, export_id, storage_name, key in expired:
        if storage_name and key:
            storage_named(storage_name, settings).delete(key)
        with ctx.db.write() as session:
            expired_export = repository.find(session, account_id, export_id)
            if expired_export is not None:
                expired_export.storage_key = None
    with ctx.db.write() as session:
        ctx.complete(session)
