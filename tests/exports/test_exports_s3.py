"""The S3-compatible store: upload, presigned link, cleanup (needs boto3 and moto)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.exports.conftest import create_orders, start_export, status
from tests.factories import order_body

boto3 = pytest.importorskip("boto3", reason="the optional s3 extra is not installed")
moto = pytest.importorskip("moto", reason="moto (S3 mock) is not installed")

BUCKET = "rk-exports"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process mock of S3 with one empty bucket."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_s3_export_is_uploaded_and_presigned(s3: Any, tenant: Tenant, db: Database,
                                             settings: Settings) -> None:
    """With storage "s3" the file lands in the bucket under the prefix and the status
    carries a presigned GET URL for it; nothing stays in the staging directory."""
    s3_settings = settings.model_copy(update={"exports": settings.exports.model_copy(
        update={"storage": "s3", "s3_bucket": BUCKET, "s3_prefix": "exports/"})})
    with TestClient(create_app(s3_settings, run_worker=False)) as api:
        api.auth = (tenant.account_id, tenant.secret_key)
        create_orders(api, order_body(), order_body())
        job_id = start_export(api)
        build_runner(db, s3_settings).run_until_idle()
        state = status(api, job_id)
    assert state["status"] == "completed" and state["rows_processed"] == 2
    key = f"exports/{tenant.account_id}/{job_id}-1.csv.gz"
    url = urlsplit(state["presigned_url"])
    assert key in url.path
    query = parse_qs(url.query)
    assert "X-Amz-Signature" in query or "Signature" in query
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    lines = gzip.decompress(body).decode().splitlines()
    assert len(lines) == 3 and lines[0].startswith("order_handle,")
    assert list(settings.exports.local_dir.rglob(f"*{job_id}*")) == []
