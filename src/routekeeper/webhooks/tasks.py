"""Background tasks of webhooks: deliver an endpoint's batches, tell a contact about a
disabled endpoint, and sweep up endpoints whose senders gave up."""

from __future__ import annotations

from datetime import timedelta

from routekeeper.core import metrics
from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext, registry
from routekeeper.core.timefmt import format_ts
from routekeeper.models.account import Account
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.settings import Settings
from routekeeper.webhooks import dispatch, mail, repository

# One run sends at most this many batches, then leaves the rest to a fresh job so that
# one busy endpoint does not hold a worker thread for long.
MAX_BATCHES_PER_RUN = 20
SWEEP_EVERY_S = 60.0
# A pending delivery this late has no sender coming (its jobs failed for good).
SWEEP_GRACE_S = 60.0


def _settings(ctx: JobContext) -> Settings:
    settings = ctx.env.get("settings")
    return settings if isinstance(settings, Settings) else Settings()


@registry.register(dispatch.DELIVER_TASK)
def deliver(ctx: JobContext) -> None:
    """Send an endpoint's due batches, then arm a job for its next retry."""
    settings = _settings(ctx).webhooks
    account_id = str(ctx.payload["account_id"])
    endpoint_id = str(ctx.payload["endpoint_id"])
    for _ in range(MAX_BATCHES_PER_RUN):
        batch = dispatch.claim_batch(ctx.db, account_id, endpoint_id, settings)
        if batch is None:
            break
        started_at = utcnow()
        result = dispatch.send_batch(batch, settings)
        metrics.WEBHOOK_EVENTS.labels(result.outcome.value).inc(batch.size)
        dispatch.record_attempt(ctx.db, batch, result, started_at=started_at, settings=settings)
        # Stop early (LeaseLost) when another worker has taken this job over.
        ctx.heartbeat()
    with ctx.db.write() as session:
        dispatch.schedule_follow_up(session, account_id, endpoint_id, exclude_job_id=ctx.job_id)
        ctx.complete(session)


@registry.register(dispatch.NOTIFY_TASK)
def notify_disabled(ctx: JobContext) -> None:
    """Email the account's contact that an endpoint was disabled, and record what happened."""
    settings = _settings(ctx)
    key = (str(ctx.payload["account_id"]), str(ctx.payload["endpoint_id"]))
    with ctx.db.read() as session:
        endpoint = session.get(WebhookEndpoint, key)
        account = session.get(Account, key[0])
        contact = account.contact_email if account else None
        if endpoint is not None:
            session.expunge(endpoint)
    if endpoint is None or endpoint.enabled or endpoint.disabled_at is None:
        # Enabled again (or gone) before we got to it: there is nothing to announce.
        with ctx.db.write() as session:
            ctx.complete(session)
        return
    if settings.mail.host is None:
        notice = "No mail sent: no SMTP host is configured (ROUTEKEEPER_MAIL__HOST)."
    elif not contact:
        notice = "No mail sent: the account has no contact email."
    else:
        message = mail.disabled_message(endpoint, sender=settings.mail.sender, recipient=contact,
                                        public_url=settings.public_url)
        try:
            mail.send(settings.mail, message)
        except OSError as exc:  # smtplib and ssl errors are OSErrors
            _notice(ctx, key, endpoint, f"Mail to {contact} not sent (attempt {ctx.attempt} "
                                        f"of {ctx.max_attempts}): {exc!r}", complete=False)
            raise
        notice = f"Mail sent to {contact} at {format_ts(utcnow())}."
    _notice(ctx, key, endpoint, notice, complete=True)


def _notice(
    ctx: JobContext, key: tuple[str, str], disabled: WebhookEndpoint, notice: str, *,
    complete: bool,
) -> None:
    with ctx.db.write() as session:
        endpoint = session.get(WebhookEndpoint, key)
        # Only annotate the disable this job was about, not a later one.
        if endpoint is not None and endpoint.disabled_at == disabled.disabled_at:
            endpoint.disabled_notification = notice
        if complete:
            ctx.complete(session)


@registry.register("webhooks.sweep", every_s=SWEEP_EVERY_S)
def sweep(ctx: JobContext) -> None:
    """Re-arm endpoints with deliveries long overdue (their deliver jobs failed for good)."""
    before = utcnow() - timedelta(seconds=SWEEP_GRACE_S)
    with ctx.db.read() as session:
        stalled = repository.stalled_endpoints(session, before)
    for account_id, endpoint_id in stalled:
        with ctx.db.write() as session:
            dispatch.schedule_follow_up(session, account_id, endpoint_id, exclude_job_id=None)
    with ctx.db.write() as session:
        ctx.complete(session)
