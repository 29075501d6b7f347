"""The service's Prometheus metrics, counted where the work happens.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment (before this module is imported),
prometheus-client keeps every process's values in files there and a scrape of any process
adds them up: that is how several API and worker processes under systemd report as one.
Gauges that describe shared state (queue depth, undelivered events) are not counted here but
read from the database at scrape time (``ops.gauges``), so every process reports the truth.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "routekeeper_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "routekeeper_http_request_duration_seconds", "Time to answer a request, by route template.",
    ["method", "route"], buckets=_SECONDS)
JOB_SECONDS = Histogram(
    "routekeeper_job_duration_seconds", "Run time of background jobs, by task and outcome.",
    ["task", "outcome"], buckets=_SECONDS)
WEBHOOK_EVENTS = Counter(
    "routekeeper_webhook_deliveries",
    "Webhook events sent, by the outcome of their attempt (delivered, rejected, retry).",
    ["outcome"])
POSITIONS = Counter(
    "routekeeper_positions", "Position fixes received, by result (accepted, rejected).",
    ["result"])
TRACKING_LAG = Histogram(
    "routekeeper_tracking_lag_seconds",
    "From the newest fix of an upload being measured to the upload being stored.",
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0))
PIPELINE_LAG = Histogram(
    "routekeeper_tracking_pipeline_lag_seconds",
    "From a fix being stored to its route pipelines' outcome (visits, ETAs, events) being "
    "committed by the tracking processor.",
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0,
             20.0, 30.0, 60.0, 120.0, 300.0, 900.0))
PROCESSED = Counter(
    "routekeeper_tracking_processed", "Stored fixes run through their routes' pipeline.")
BATCH_FIXES = Histogram(
    "routekeeper_tracking_batch_fixes", "Fixes per batch of the tracking processor.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000))
UPLOAD_GROUP = Histogram(
    "routekeeper_tracking_upload_group_uploads",
    "Uploads written together in one transaction by a process's upload writer.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
STATE_WRITES = Counter(
    "routekeeper_tracking_state_writes",
    "Route states written by the tracking processor: whole (checkpoint) or as a batch "
    "appended to the route's tail.", ["kind"])
PLANS = Counter("routekeeper_plans", "Planning runs finished, by outcome.", ["outcome"])
PLAN_SECONDS = Histogram(
    "routekeeper_plan_solve_seconds", "Time the solver took for one planning run.",
    buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0))
PLAN_ORDERS = Counter(
    "routekeeper_plan_orders", "Orders of finished planning runs, planned or unplanned.",
    ["result"])
EXPORT_ROWS = Counter("routekeeper_export_rows", "Rows written into exports.")
EXPORT_ROWS_PER_S = Histogram(
    "routekeeper_export_rows_per_second", "Throughput of each finished export.",
    buckets=(100.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 250_000.0))
RATE_LIMITED = Counter(
    "routekeeper_rate_limited", "Requests refused with 429, by the limit that refused them.",
    ["limit"])


def observe_times(histogram: Histogram, value: float, times: int) -> None:
    """``histogram.observe(value)`` done ``times`` times (:func:`observe_many`)."""
    observe_many(histogram, [(value, times)])


def observe_many(histogram: Histogram, observations: Iterable[tuple[float, int]]) -> None:
    """``histogram.observe(value)`` done ``times`` times for each ``(value, times)``, in one
    write for the sum and one for each bucket reached.

    The tracking processor observes the lag of every fix, and a parcel's fixes (an upload's,
    received together) share theirs: 100 observations of one value for a batch of 100. In
    multiprocess mode each observation is two locked writes to a memory-mapped file, 4-5 %
    of the processor's time in a py-spy profile; a group of fifty phones' single fixes
    still made a hundred writes, in a few buckets. prometheus-client has no weighted
    observation, so this adds to the histogram's own sum and bucket values as ``observe``
    does (``tests/core/test_metrics_observe.py`` checks the exposition is the same)."""
    total = 0.0
    counts = [0] * len(histogram._upper_bounds)
    for value, times in observations:
        if times <= 0:
            continue
        total += value * times
        for index, bound in enumerate(histogram._upper_bounds):
            if value <= bound:
                counts[index] += times
                break
    if not any(counts):
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


def multiprocess_dir() -> str | None:
    """The directory multiprocess mode shares values in, when it is on."""
    return os.environ.get(MULTIPROCESS_ENV) or None


def exposition(*extra: Collector) -> bytes:
    """The text exposition of every process's metrics plus ``extra`` collectors."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if extra:
        scrape_time = CollectorRegistry()
        for collector in extra:
            scrape_time.register(collector)
        text += generate_latest(scrape_time)
    return text
