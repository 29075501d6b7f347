"""Where finished export files live: a local directory or an S3-compatible bucket.

Files are written under a staging directory first and published whole (an atomic rename,
or an upload), so a reader never sees a half-written file under a published key. Every
attempt of a job publishes under its own key; only the key committed with the completed
state is ever linked, so a late worker that lost its lease cannot replace a good file.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from routekeeper.core.clock import utcnow
from routekeeper.core.signing_keys import SigningKeys, mac
from routekeeper.exports.writer import fsync_directory
from routekeeper.settings import ExportSettings, Settings

LOCAL = "local"
S3 = "s3"
# SigV4 presigned URLs cannot live longer than a week.
S3_MAX_PRESIGN_S = 7 * 24 * 3600
_PARTIAL_DIR = ".partial"


def export_key(account_id: str, export_id: str, attempt: int) -> str:
    """The storage key of one attempt's file."""
    return f"{account_id}/{export_id}-{attempt}.csv.gz"


def download_name(export_id: str, kind: str = "orders") -> str:
    """The file name offered to whoever downloads an export (of orders or workers)."""
    return f"{kind}-export-{export_id}.csv.gz"


class ExportStorage(Protocol):
    """A place to publish export files and to link to them."""

    name: str

    def staging_path(self, key: str) -> Path:
        """Where to write the file of ``key`` before it is published."""
        ...

    def publish(self, staged: Path, key: str) -> None:
        """Make the finished, fsynced file at ``staged`` available under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file of ``key`` and its staging file, if any (idempotent)."""
        ...

    def download_url(
        self, export_id: str, key: str, expires_at: datetime, *, kind: str = "orders"
    ) -> str:
        """A URL that downloads the file of ``key`` (an export of ``kind``) until
        ``expires_at``."""
        ...


def _staging(root: Path, key: str) -> Path:
    # Staging sits under the same root so a local publish is a same-filesystem rename.
    return root / _PARTIAL_DIR / (key.replace("/", "__") + ".part")


def sign_download(secret: str, export_id: str, expires: int) -> str:
    """The HMAC-SHA256 signature of a local download link (job id and expiry)."""
    message = f"routekeeper-export-download:{export_id}:{expires}".encode()
    return base64.urlsafe_b64encode(mac(secret, message)).decode().rstrip("=")


def verify_download(
    keys: SigningKeys, export_id: str, expires: str | None, signature: str | None
) -> bool:
    """True when the link is untampered (signed with any of ``keys``) and not yet expired."""
    if not expires or not signature or not expires.isascii() or not expires.isdigit() \
            or len(expires) > 12:
        return False
    if not keys.verifies(signature.encode(),
                         lambda key: sign_download(key, export_id, int(expires)).encode(),
                         now=utcnow()):
        return False
    return int(expires) > int(utcnow().timestamp())


class LocalStorage:
    """Files in ``settings.exports.local_dir``, served by the API at signed, expiring URLs."""

    name = LOCAL

    def __init__(self, root: Path, *, secret: str, public_url: str) -> None:
        self.root = root
        self.secret = secret
        self.public_url = public_url.rstrip("/")

    def path(self, key: str) -> Path:
        """The published file of ``key``."""
        return self.root / key

    def staging_path(self, key: str) -> Path:
        """Where to write the file of ``key`` before it is published."""
        return _staging(self.root, key)

    def publish(self, staged: Path, key: str) -> None:
        """Rename the staged file into place and make the rename durable."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        fsync_directory(target.parent)

    def delete(self, key: str) -> None:
        """Remove the published and the staged file of ``key``."""
        self.path(key).unlink(missing_ok=True)
        self.staging_path(key).unlink(missing_ok=True)

    def download_url(
        self, export_id: str, key: str, expires_at: datetime, *, kind: str = "orders"
    ) -> str:
        """A link to ``GET /exports/download/{id}`` signed with the service's secret key."""
        expires = int(expires_at.timestamp())
        query = urlencode({"expires": expires,
                           "signature": sign_download(self.secret, export_id, expires)})
        return f"{self.public_url}/exports/download/{export_id}?{query}"


class S3Storage:
    """Objects in an S3-compatible bucket, linked by presigned GET URLs."""

    name = S3

    def __init__(self, settings: ExportSettings) -> None:
        if not settings.s3_bucket:
            raise ValueError("exports.s3_bucket must be set when exports.storage is 's3'")
        self.bucket = settings.s3_bucket
        self.endpoint_url = settings.s3_endpoint_url
        self.prefix = settings.s3_prefix
        self.staging_root = settings.local_dir
        self._client: Any = None

    def client(self) -> Any:
        """The boto3 S3 client, created on first use (boto3 is the optional ``s3`` extra)."""
        if self._client is None:
            import boto3  # imported here: only deployments that store on S3 install it

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def object_key(self, key: str) -> str:
        """The bucket key of ``key``."""
        return f"{self.prefix}{key}"

    def staging_path(self, key: str) -> Path:
        """A local file to build the export in before uploading it."""
        return _staging(self.staging_root, key)

    def publish(self, staged: Path, key: str) -> None:
        """Upload the staged file (multipart when large), then drop the local copy."""
        self.client().upload_file(
            str(staged), self.bucket, self.object_key(key),
            ExtraArgs={"ContentType": "application/gzip"},
        )
        staged.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        """Delete the object of ``key`` and any local staging file."""
        self.client().delete_object(Bucket=self.bucket, Key=self.object_key(key))
        self.staging_path(key).unlink(missing_ok=True)

    def download_url(
        self, export_id: str, key: str, expires_at: datetime, *, kind: str = "orders"
    ) -> str:
        """A presigned GET URL, valid until ``expires_at`` (at most a week from now)."""
        remaining = int((expires_at - utcnow()).total_seconds())
        url: str = self.client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket, "Key": self.object_key(key),
                "ResponseContentDisposition": (
                    f'attachment; filename="{download_name(export_id, kind)}"'),
            },
            ExpiresIn=max(1, min(remaining, S3_MAX_PRESIGN_S)),
        )
        return url


def storage_named(name: str, settings: Settings) -> ExportStorage:
    """The storage called ``name`` ("local" or "s3") as configured in ``settings``."""
    if name == S3:
        return S3Storage(settings.exports)
    if name == LOCAL:
        return LocalStorage(settings.exports.local_dir, secret=settings.signing_keys.current,
                            public_url=settings.public_url)
    raise ValueError(f"unknown export storage {name!r}; use 'local' or 's3'")


def configured_storage(settings: Settings) -> ExportStorage:
    """The storage new exports are written to."""
    return storage_named(settings.exports.storage, settings)
