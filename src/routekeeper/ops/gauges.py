"""Gauges read from the database at scrape time: the state every process shares.

These queries span accounts on purpose (an operator's view of the whole install); they are
among the few global statements listed in ``docs/deploy.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.models.job import Job, JobStatus
from routekeeper.models.position_inbox import backlog as inbox_backlog
from routekeeper.models.webhook_delivery import WebhookDelivery

PENDING = "pending"


class DatabaseGauges(Collector):
    """Queue depth, the oldest due job, the oldest undelivered webhook event per endpoint, and
    the tracking processor's backlog."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read the gauges (one short read transaction)."""
        now = utcnow()
        depth = GaugeMetricFamily("routekeeper_jobs_due", "Queued jobs that are due, by task.",
                                  labels=["task"])
        running = GaugeMetricFamily("routekeeper_jobs_running", "Jobs being run, by task.",
                                    labels=["task"])
        oldest = GaugeMetricFamily("routekeeper_job_oldest_due_age_seconds",
                                   "How long the oldest due job has been waiting.")
        undelivered = GaugeMetricFamily(
            "routekeeper_webhook_oldest_undelivered_age_seconds",
            "Age of the oldest event not yet delivered, per webhook endpoint.",
            labels=["account_id", "endpoint_id"])
        backlog = GaugeMetricFamily(
            "routekeeper_tracking_backlog_fixes",
            "Stored fixes waiting for the tracking processor.")
        lag = GaugeMetricFamily(
            "routekeeper_tracking_backlog_age_seconds",
            "How long the oldest fix waiting for the tracking processor has waited.")
        with self.db.read() as session:
            waiting, oldest_fix = inbox_backlog(session)
            backlog.add_metric([], float(waiting))
            lag.add_metric([], max(0.0, (now - oldest_fix).total_seconds())
                           if oldest_fix else 0.0)
            for task, count in session.execute(
                select(Job.task, func.count())
                .where(Job.status == JobStatus.QUEUED.value, Job.run_at <= now)
                .group_by(Job.task)):
                depth.add_metric([task], float(count))
            for task, count in session.execute(
                select(Job.task, func.count()).where(Job.status == JobStatus.RUNNING.value)
                .group_by(Job.task)):
                running.add_metric([task], float(count))
            first_due = session.scalar(select(func.min(Job.run_at)).where(
                Job.status == JobStatus.QUEUED.value, Job.run_at <= now))
            oldest.add_metric([], (now - first_due).total_seconds() if first_due else 0.0)
            for account_id, endpoint_id, created in session.execute(
                select(WebhookDelivery.account_id, WebhookDelivery.endpoint_id,
                       func.min(WebhookDelivery.created_at))
                .where(WebhookDelivery.status == PENDING)
                .group_by(WebhookDelivery.account_id, WebhookDelivery.endpoint_id)):
                undelivered.add_metric([account_id, endpoint_id],
                                       max(0.0, (now - created).total_seconds()))
        yield from (depth, running, oldest, undelivered, backlog, lag)
