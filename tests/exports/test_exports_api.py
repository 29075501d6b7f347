"""POST /orders/export and GET /orders/export/{job_id}: contents, validation, idempotency,
tenancy."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.exports.columns import header
from routekeeper.models.order_export import OrderExport
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.exports.conftest import (
    create_orders,
    download,
    identity,
    list_all,
    parse_csv,
    runner_for,
    start_export,
    status,
    varied_orders,
)
from tests.factories import order_body
from tests.shapes import messages_at

REPO_ROOT = Path(__file__).resolve().parents[2]

FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "cancelled"},
    {"status": "unplanned,cancelled", "sort_direction": "asc"},
    {"order_metadata_filter": json.dumps({"customer": "globex"})},
    {"search_term": "globex"},
    {"created_at_date": datetime.now(UTC).strftime("%Y-%m-%d"), "fulfillment_attempt": 0},
    {"created_at_from": "2000-01-01 00:00:00", "created_at_to": "2001-01-01 00:00:00"},
]


def test_export_holds_the_same_orders_as_the_paged_list(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """For several filters, the file lists exactly the orders GET /orders/ pages through."""
    varied_orders(api)
    runner = runner_for(db, settings, batch_rows=4)
    for filters in FILTERS:
        job_id = start_export(api, filters)
        runner.run_until_idle()
        state = status(api, job_id)
        assert state["status"] == "completed", (filters, state)
        rows = parse_csv(download(api, state["presigned_url"]))
        expected = list_all(api, filters)
        assert [identity(r) for r in rows] == [identity(o) for o in expected], filters
        assert state["rows_processed"] == len(expected)
    # The filters really select different subsets (the comparison is not vacuous).
    assert len(list_all(api, {"status": "cancelled"})) == 3
    assert len(list_all(api, {"order_metadata_filter": json.dumps({"customer": "globex"})})) == 4


def test_file_is_gzip_csv_with_the_api_values(api: TestClient, db: Database,
                                              settings: Settings) -> None:
    """Every value csv reads back equals the order's wire value in the documented format."""
    tricky = order_body(
        destination={"geometry": {"type": "Point", "coordinates": [2.3522, 48.8566]},
                     "radius": 75, "address": 'Quai "A", 1\nParis \u2013 \u00cele'},
        metadata={"note": "comma, quote \" and\nnewline", "vip": True, "n": 1.5},
        product_type=["frozen", "fragile"], priority="high", expected_service_time=120,
        scheduled_after="2031-05-01T08:00:00.123456Z", scheduled_at="2031-05-01T10:30:00Z",
    )
    polygon = order_body(destination={"geometry": {"type": "Polygon", "coordinates": [
        [[0.0, 0.0], [0.002, 0.0], [0.002, 0.002], [0.0, 0.002], [0.0, 0.0]]]}})
    created = create_orders(api, tricky, polygon)
    job_id = start_export(api, {"sort_direction": "asc"})
    runner_for(db, settings).run_until_idle()
    data = download(api, status(api, job_id)["presigned_url"])
    rows = parse_csv(data)
    # Rows end in \r\n on both databases; a newline inside a quoted cell stays as it was.
    text = gzip.decompress(data).decode("utf-8")
    assert text.endswith("\r\n") and "1\nParis" in text
    assert text.count("\r\n") == len(rows) + 1
    assert list(rows[0].keys()) == header()
    by_handle = {row["order_handle"]: row for row in rows}
    wire = {o["order_handle"]: o for o in list_all(api, {})}
    point = by_handle[created[0]["order_handle"]]
    order = wire[created[0]["order_handle"]]
    assert point["status"] == "unplanned" == order["status"]
    assert point["type"] == "drop" and point["type_index"] == "0"
    assert point["fulfillment_attempt"] == "0"
    assert float(point["destination_lon"]) == 2.3522
    assert float(point["destination_lat"]) == 48.8566
    assert point["destination_radius"] == "75"
    assert point["destination_address"] == 'Quai "A", 1\nParis \u2013 \u00cele'
    assert point["destination_geometry_type"] == "Point"
    assert json.loads(point["destination_geometry"]) == order["destination"]["geometry"]
    assert json.loads(point["metadata"]) == order["metadata"]
    assert json.loads(point["product_type"]) == ["frozen", "fragile"]
    assert point["priority"] == "high" and point["expected_service_time"] == "120"
    assert point["capacity_used"] == "1" and point["risk_status"] == "false"
    assert point["ops_group_handle"] == "default" and point["plan_mode"] == "manual"
    for stamp in ("created_at", "scheduled_after", "scheduled_at", "cancelled_at"):
        assert point[stamp] == (order[stamp] or ""), stamp
    assert point["scheduled_after"] == "2031-05-01T08:00:00.123Z"
    assert point["scheduled_at"] == "2031-05-01T10:30:00.000Z"
    assert point["share_url"] == "" and point["route_handle"] == ""
    shape = by_handle[created[1]["order_handle"]]
    assert shape["destination_geometry_type"] == "Polygon"
    assert shape["destination_radius"] == ""
    assert json.loads(shape["destination_geometry"])["type"] == "Polygon"
    assert float(shape["destination_lon"]) == pytest.approx(0.0012, abs=1e-3)


def test_completed_export_writes_an_outbox_event(api: TestClient, tenant: Tenant, db: Database,
                                                 settings: Settings) -> None:
    """The final state comes with one ``export`` event carrying job id, status and rows."""
    create_orders(api, order_body(), order_body())
    job_id = start_export(api)
    runner_for(db, settings).run_until_idle()
    with db.read() as session:
        events = [(e.value, e.payload) for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.account_id == tenant.account_id, OutboxEvent.type == "export"))]
    assert len(events) == 1
    assert events[0][0] == "completed"
    assert events[0][1]["data"] == {
        "value": "completed", "job_id": job_id, "kind": "orders", "status": "completed",
        "rows_processed": 2,
    }


def test_status_fields_while_pending(api: TestClient) -> None:
    """A new job is pending with no link and no times of a run; without a mail server its
    mail state says so from the start."""
    job_id = start_export(api)
    state = status(api, job_id)
    assert state["job_id"] == job_id
    assert state["status"] == "pending" and state["rows_processed"] == 0
    assert state["presigned_url"] is None and state["completed_at"] is None
    assert state["started_at"] is None and state["mail_status"] == "not_configured"
    assert state["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"created_at_from": "yesterday"}, "created_at_from"),
        ({"created_at_without_tz_from": "2024-01-01 10:00:00"}, "created_at_without_tz_from"),
        ({"completed_at_date": "2024-13-01"}, "completed_at_date"),
        ({"order_metadata_filter": "[1]"}, "order_metadata_filter"),
        ({"track_mode": "teleport"}, "track_mode"),
        ({"email_recipients": ["not-an-address"]}, "email_recipients.0"),
        ({"email_recipients": "ops@example.com"}, "email_recipients"),
        ({"no_such_filter": 1}, "no_such_filter"),
    ],
)
def test_bad_body_is_a_422_naming_the_field(api: TestClient, body: dict[str, Any],
                                            field: str) -> None:
    """A bad filter or recipient is a ValidationError under ``json`` and its own name."""
    response = api.post("/orders/export", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert list(detail) == ["json"]
    assert list(detail["json"]) == [field.split(".")[0]]
    messages_at(detail, "json", field)
    assert response.json()["message"] == "Validation error"


def test_paging_fields_are_accepted_and_ignored(api: TestClient, db: Database,
                                                settings: Settings) -> None:
    """``limit``, ``pagination_token`` and ``aggregate`` do not cut the export short."""
    create_orders(api, order_body(), order_body(), order_body())
    job_id = start_export(api, {"limit": 1, "pagination_token": "whatever", "aggregate": True})
    runner_for(db, settings).run_until_idle()
    assert status(api, job_id)["rows_processed"] == 3


def test_idempotency_key(api: TestClient, tenant: Tenant, db: Database) -> None:
    """Same key and body give the same job; the same key with another body is a 409."""
    body = {"status": "unplanned", "email_recipients": ["a@example.com"]}
    first = start_export(api, body, **{"Idempotency-Key": "export-1"})
    again = start_export(api, body, **{"Idempotency-Key": "export-1"})
    assert again == first
    other = api.post("/orders/export", json={**body, "status": "cancelled"},
                     headers={"Idempotency-Key": "export-1"})
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert set(other.json()) == {"code", "title", "detail"}
    assert start_export(api, body) != first  # no key: a new job every time
    assert start_export(api, body, **{"Idempotency-Key": "export-2"}) != first
    with db.read() as session:
        count = session.scalar(select(func.count()).select_from(OrderExport).where(
            OrderExport.account_id == tenant.account_id))
    assert count == 3  # export-1 once, the keyless one, export-2


def test_idempotency_keys_belong_to_one_account(api: TestClient,
                                                other_tenant: Tenant) -> None:
    """Another account using the same key gets its own job, not a conflict."""
    mine = start_export(api, {}, **{"Idempotency-Key": "shared"})
    theirs = start_export(other_tenant.client, {"status": "cancelled"},
                          **{"Idempotency-Key": "shared"})
    assert mine != theirs


def test_other_accounts_job_is_not_found(api: TestClient, other_tenant: Tenant,
                                         anon: TestClient) -> None:
    """Another account's job and an unknown id are 404 ``export_not_found`` (Error shape)."""
    job_id = start_export(api)
    for client, wanted in ((other_tenant.client, job_id), (api, "no-such-job")):
        response = client.get(f"/orders/export/{wanted}")
        assert response.status_code == 404
        assert response.json()["code"] == "export_not_found"
        assert set(response.json()) == {"code", "title", "detail"}
    assert anon.get(f"/orders/export/{job_id}").status_code == 401
    assert anon.post("/orders/export", json={}).status_code == 401


def test_export_paths_win_over_order_handles(api: TestClient) -> None:
    """/orders/export (with or without slash) is the export, not an order named export."""
    assert api.post("/orders/export/", json={}).status_code == 201
    assert api.get("/orders/export/unknown/").json()["code"] == "export_not_found"


def test_docs_describe_every_column() -> None:
    """docs/exports.md has a row for each CSV column, in file order."""
    text = (REPO_ROOT / "docs" / "exports.md").read_text().split("## Columns", 1)[1]
    documented = [line.split("|")[1].strip().strip("`") for line in text.splitlines()
                  if line.startswith("| `")]
    assert documented == header()
