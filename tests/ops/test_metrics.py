"""``/metrics``: protected by its token, and every family moves while the service works."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.exports.conftest import start_export, status
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow
from tests.tracking.api_helpers import TrackClock, arrive_at_p, make_road
from tests.webhooks.helpers import cancel_order, new_order
from tests.webhooks.receiver import Receiver


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a scrape, by sample name: [(labels, value)]."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for found, v in samples.get(name, [])
               if all(found.get(k) == want for k, want in labels.items()))


def test_metrics_are_off_without_a_token(api: TestClient) -> None:
    """The session's app has no metrics token: /metrics is a 404, not an open door."""
    assert api.get("/metrics").status_code == 404


def test_metrics_refuse_a_wrong_token(metrics_client: TestClient) -> None:
    """A wrong or missing bearer is a 401."""
    assert metrics_client.get("/metrics", headers={"Authorization": "Bearer nope"}
                              ).status_code == 401
    assert metrics_client.get("/metrics", headers={"Authorization": ""}).status_code == 401


def test_scrape_during_a_plan_a_drive_a_delivery_and_an_export(
    metrics_client: TestClient, tenant: Tenant, db: Database, settings: Settings,
    track_clock: TrackClock, travel: Any,
) -> None:
    """Each family of the issue shows up with values that follow what was done."""
    api = tenant.client
    before = scrape(metrics_client)
    receiver = Receiver()
    try:
        created = api.post("/webhooks/endpoints", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]
        cancel_order(api, new_order(api))
        # A plan: the job waits in the queue (depth, age) and an event waits for delivery.
        add_worker(api)
        day = tomorrow()
        plan_id = post_plan(api, [day_order(day, 13.40, 52.51),
                                  day_order(day, 13.41, 52.52)])
        assert api.get(f"/orders/plans/{plan_id}").status_code == 200
        during = scrape(metrics_client)
        assert value(during, "routekeeper_jobs_due", task="planning.solve") >= 1
        assert value(during, "routekeeper_job_oldest_due_age_seconds") >= 0
        pending = [v for labels, v in during["routekeeper_webhook_oldest_undelivered_age_seconds"]
                   if labels["endpoint_id"] == endpoint_id]
        assert len(pending) == 1 and 0 <= pending[0] < 300
        run_jobs(db, settings)
        receiver.wait_for(1)
        # A tracked drive through the API.
        road = make_road(api, db, tenant, track_clock)
        arrive_at_p(road)
        # An export, run by a worker.
        job_id = start_export(api)
        build_runner(db, settings).run_until_idle()
        assert status(api, job_id)["status"] == "completed"
    finally:
        receiver.close()
    after = scrape(metrics_client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("routekeeper_http_requests_total", method="POST", route="/orders/",
                status="201") >= 1
    assert grew("routekeeper_http_request_duration_seconds_count", method="POST",
                route="/devices/{device_id}/locations") >= 2
    assert grew("routekeeper_job_duration_seconds_count", task="planning.solve",
                outcome="succeeded") >= 1
    assert grew("routekeeper_job_duration_seconds_count", task="exports.generate",
                outcome="succeeded") >= 1
    assert grew("routekeeper_webhook_deliveries_total", outcome="delivered") >= 1
    assert grew("routekeeper_positions_total", result="accepted") >= 10
    assert grew("routekeeper_tracking_lag_seconds_count") >= 2
    # Each upload was written in a group of the upload writer.
    assert grew("routekeeper_tracking_upload_group_uploads_sum") >= 2
    # The tracking processor took every fix of the drive, and nothing waits any more.
    assert grew("routekeeper_tracking_processed_total") >= 10
    assert grew("routekeeper_tracking_pipeline_lag_seconds_count") >= 10
    assert value(after, "routekeeper_tracking_backlog_fixes") == 0
    # The drive's fixes reached the server two seconds after they were measured.
    assert grew("routekeeper_tracking_lag_seconds_sum") > 0
    assert grew("routekeeper_plans_total", outcome="completed") >= 1
    assert grew("routekeeper_plan_solve_seconds_count") >= 1
    assert grew("routekeeper_plan_orders_total", result="planned") >= 2
    assert grew("routekeeper_export_rows_total") >= 2
    assert grew("routekeeper_export_rows_per_second_count") >= 1
    assert value(after, "routekeeper_export_rows_per_second_sum") > 0
    # No raw path (an id, a key) ever becomes a label.
    routes = {labels["route"] for labels, _ in after["routekeeper_http_requests_total"]}
    assert "/orders/plans/{plan_id}" in routes
    assert not any("rkd_" in route or plan_id in route for route in routes)


def test_the_grafana_dashboard_uses_only_families_the_service_exports(
    metrics_client: TestClient,
) -> None:
    """Every metric a panel of docs/ops/grafana-dashboard.json queries is exported."""
    dashboard = Path(__file__).resolve().parents[2] / "docs" / "ops" / "grafana-dashboard.json"
    panels = json.loads(dashboard.read_text())["panels"]
    queried = {re.sub(r"_(total|bucket|count|sum)$", "", name)
               for panel in panels for target in panel["targets"]
               for name in re.findall(r"routekeeper_[a-z_]+", target["expr"])}
    exported = {re.sub(r"_total$", "", name) for name in re.findall(
        r"^# HELP (routekeeper_[a-z_]+)", metrics_client.get("/metrics").text, re.MULTILINE)}
    assert queried and queried <= exported, queried - exported
    assert len(panels) >= 12
