"""Settings: one pydantic-settings class with nested sections, env prefix ``ROUTEKEEPER_``."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from routekeeper.core.public_url import forwarded_base, parse_trusted
from routekeeper.core.signing_keys import KEY_FILE_NAME, SigningKeys, check_key, load_or_create

Environment = StrEnum("Environment", "DEVELOPMENT TEST PRODUCTION")


class DatabaseSettings(BaseModel):
    url: str = "sqlite:///./var/routekeeper.db"
    echo: bool = False
    pool_size: int = 10
    # SQLite waits this long for a write lock before giving up.
    sqlite_busy_timeout_ms: int = 30_000


class ApiSettings(BaseModel):
    max_body_bytes: int = 10 * 1024 * 1024
    # Comma list of proxy addresses or networks whose X-Forwarded-* headers make the base
    # of the links in answers (core/public_url.py); nobody else's are believed.
    trusted_proxies: str = ""
    token_ttl_s: int = 3600


class JobSettings(BaseModel):
    run_in_api: bool = True
    concurrency: int = 2
    poll_interval_s: float = 0.5
    lease_s: float = 60.0
    retry_base_s: float = 5.0
    retry_max_s: float = 3600.0


class RoutingSettings(BaseModel):
    detour_factor: float = 1.3
    speed_kmh: float = 30.0
    osrm_url: str | None = None
    osrm_profile: str = "driving"
    osrm_timeout_s: float = 10.0
    # The most coordinates one table request lists. A server whose --max-table-size is smaller
    # (osrm-routed's default is 100) answers TooBig once, and is then asked in blocks of 100.
    osrm_max_table_size: int = 1000
    # A dataset made by `routekeeper roads prepare` (its folder or its .osrm base path): serve
    # and worker then run osrm-routed on loopback as a supervised child (osrm_url wins if set).
    dataset: Path | None = None
    # Where the install step unpacked OSRM (bin/osrm-*, profiles/*.lua).
    osrm_home: Path = Path("./var/osrm")
    # Port of the supervised osrm-routed on 127.0.0.1; 0 picks a free one.
    osrm_port: int = 0
    # "ch" answers tables several times faster than "mld" (docs/architecture.md); prepare
    # builds both, so this can be switched without preparing again.
    osrm_algorithm: str = "ch"
    # --max-table-size of the supervised osrm-routed (the client splits larger tables).
    routed_max_table_size: int = 2000
    # A point whose nearest road is farther than this is outside the road network: its legs
    # use the straight-line model (and the estimate says so).
    max_snap_m: float = 500.0
    # Points kept in the day's matrix cache (reused across planning runs); about 10 bytes
    # per cell, so 2,000 points hold 40 MB.
    matrix_cache_points: int = 2000


class GeocodingSettings(BaseModel):
    # A Nominatim-compatible server (``/search`` and ``/reverse`` in ``format=jsonv2``);
    # None: address-only destinations and region filters are refused with a 422.
    url: str | None = None
    timeout_s: float = 10.0
    # Requests in flight at once for one batch (Nominatim's own server serves a few at a time).
    concurrency: int = 8
    accept_language: str = "en"
    # A cached answer older than this is asked again (addresses and regions rarely move).
    cache_ttl_s: float = 30 * 24 * 3600
    # How long a request waits for the regions of its new orders; the rest are filled by a job.
    region_wait_s: float = 2.0
    # Retry-After of the 503 answered while the geocoder is unreachable.
    retry_after_s: int = 30


class PlanningSettings(BaseModel):
    time_budget_s: float = 10.0
    min_time_budget_s: float = 0.5
    seed: int = 1
    processes: int = 0  # 0 = one per core


class TrackingSettings(BaseModel):
    max_future_skew_s: float = 300.0
    max_speed_mps: float = 90.0
    max_batch: int = 1000
    dwell_s: float = 30.0
    exit_buffer_m: float = 30.0
    offline_after_s: float = 600.0
    low_battery_percent: float = 15.0
    n_minutes_away: int = 5
    # Seconds between the periodic ``eta`` webhooks of the order a worker is on the way to
    # (sent with ETA updates, so at most this often; 0 turns them off).
    eta_interval_s: float = Field(default=60.0, ge=0.0)
    osmand_port: int | None = None
    # Store first, process right after (tracking/processor.py): at most this many fixes of
    # one device per batch, this many devices per round, threads per worker process, and how
    # often idle threads look for fixes stored by other processes.
    process_batch: int = 5000
    process_devices: int = 500
    # Devices processed in one transaction (a failed group is retried device by device).
    process_group: int = Field(default=50, ge=1)
    process_threads: int = 2
    process_poll_s: float = 0.05
    # Route states kept decoded per process (about 20 KB each), and how long a processor
    # leaves another process's devices to it (tracking/processor.py, "States kept decoded").
    resident_states: int = Field(default=5000, ge=0)
    adopt_after_s: float = Field(default=1.0, ge=0.0)
    # Which device an ingest key belongs to is remembered this long (the key is re-checked
    # against the device row on every upload all the same, so a rotated key or a deleted
    # device is refused at once). An hour: a phone sending every 5 s searched for its key by
    # prefix on one upload in twelve with a minute.
    key_cache_s: float = 3600.0
    # At most this many uploads are written in one transaction (tracking/uploads.py).
    upload_group: int = Field(default=200, ge=1)
    # Processing is "behind" (health, metrics) when the oldest waiting fix is older than this.
    lag_threshold_s: float = 30.0
    # Positions older than this are deleted (whole partitions on PostgreSQL).
    retention_days: int = Field(default=90, ge=1)


class WebhookSettings(BaseModel):
    allow_private_targets: bool = False
    batch_size: int = 50
    timeout_s: float = 10.0
    max_response_bytes: int = 4096
    # Seconds after the first attempt: within 30 s, then backing off for more than 72 hours.
    retry_schedule_s: list[float] = Field(
        default_factory=lambda: [
            5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0,
            24 * 3600.0, 36 * 3600.0, 48 * 3600.0, 60 * 3600.0, 73 * 3600.0,
        ]
    )
    disable_after_s: float = 5 * 24 * 3600
    secret_rotation_overlap_s: float = 24 * 3600


class ExportSettings(BaseModel):
    storage: str = "local"  # "local" or "s3"
    local_dir: Path = Path("./var/exports")
    link_ttl_s: int = 7 * 24 * 3600
    batch_rows: int = 5000
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_prefix: str = "exports/"


MailSecurity = StrEnum("MailSecurity", "NONE STARTTLS TLS")


class MailSettings(BaseModel):
    host: str | None = None
    port: int = 25
    security: MailSecurity = MailSecurity.NONE
    username: str | None = None
    password: str | None = None
    sender: str = "routekeeper@localhost"
    timeout_s: float = 10.0


class ViewSettings(BaseModel):
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    embed_token_ttl_s: int = 24 * 3600
    # Live streams (views/live.py): caps per view, per client address and per process.
    max_streams_per_view: int = 200
    max_streams_per_client: int = 50
    max_streams: int = 4000


LogFormat = StrEnum("LogFormat", "TEXT JSON")


class LogSettings(BaseModel):
    format: LogFormat = LogFormat.TEXT
    level: str = "INFO"


class MetricsSettings(BaseModel):
    # /metrics answers only a request bearing this token; unset, the endpoint is off (404).
    token: str | None = None


class RateRule(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_s`` a second."""

    per_s: float = Field(gt=0)
    burst: int = Field(ge=1)


def _default_request_rules() -> dict[str, RateRule]:
    return {
        "read": RateRule(per_s=50.0, burst=200),
        "write": RateRule(per_s=20.0, burst=100),
        "ingest": RateRule(per_s=50.0, burst=200),
        # Uploads of one device (any protocol, after its key is checked): a phone flushing
        # its buffer may burst, but one device flooding is refused, never the whole server.
        "device": RateRule(per_s=5.0, burst=30),
        "plan": RateRule(per_s=2.0, burst=20),
        "export": RateRule(per_s=0.2, burst=10),
        "console": RateRule(per_s=10.0, burst=60),
    }


class LimitSettings(BaseModel):
    enabled: bool = True
    # "auto": the database on PostgreSQL (shared by every process), memory on SQLite.
    backend: str = "auto"
    requests: dict[str, RateRule] = Field(default_factory=_default_request_rules)
    # Failed authentications (Basic, /oauth/token, ingest keys): per source address and per
    # account. A refused guess does not consume, so the owner waits at most 1 / per_s.
    failures_per_address: RateRule = Field(
        default_factory=lambda: RateRule(per_s=1.0, burst=20))
    failures_per_account: RateRule = Field(
        default_factory=lambda: RateRule(per_s=2.0, burst=40))


class Settings(BaseSettings):
    """Every setting of the service; ``create_app(settings)`` takes one explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="ROUTEKEEPER_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    environment: Environment = Environment.DEVELOPMENT
    # Unset: a random key generated on first start and kept in data_dir (core/signing_keys.py).
    secret_key: str | None = None
    # Rotation: the key before ROUTEKEEPER_SECRET_KEY, still accepted until the given instant.
    previous_secret_key: str | None = None
    previous_secret_key_until: datetime | None = None
    # Where the service keeps its own files (the generated signing key); unset: the SQLite
    # file's directory, or ./var with another database.
    data_dir: Path | None = None
    # ROUTEKEEPER_PUBLIC_URL; unset, links use a trusted proxy's X-Forwarded-* or the
    # address `serve` bound (``bound_url``, which `serve` sets): see ``public_url``.
    configured_public_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ROUTEKEEPER_PUBLIC_URL", "public_url"))
    bound_url: str = "http://127.0.0.1:8000"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    # ROUTEKEEPER_DATABASE_URL is accepted as a flat alias of ROUTEKEEPER_DATABASE__URL.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ROUTEKEEPER_DATABASE_URL")
    )
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    geocoding: GeocodingSettings = Field(default_factory=GeocodingSettings)
    planning: PlanningSettings = Field(default_factory=PlanningSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    exports: ExportSettings = Field(default_factory=ExportSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    views: ViewSettings = Field(default_factory=ViewSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        parse_trusted(self.api.trusted_proxies)  # a typo fails at start, not per request
        if self.database_url and self.database.url == DatabaseSettings().url:
            self.database.url = self.database_url
        if self.secret_key is not None:
            check_key(self.secret_key)
        if self.previous_secret_key is not None:
            check_key(self.previous_secret_key, name="ROUTEKEEPER_PREVIOUS_SECRET_KEY")
            if self.secret_key is None or self.previous_secret_key_until is None:
                raise ValueError("ROUTEKEEPER_PREVIOUS_SECRET_KEY needs ROUTEKEEPER_SECRET_KEY "
                                 "and ROUTEKEEPER_PREVIOUS_SECRET_KEY_UNTIL (end of its grace)")
        return self

    @property
    def signing_keys(self) -> SigningKeys:
        """The keys that sign and verify tokens and links (checked again: copies skip the
        validator)."""
        if self.secret_key is None:
            return load_or_create(self.data_directory / KEY_FILE_NAME)
        current = check_key(self.secret_key)
        if self.previous_secret_key is None or self.previous_secret_key_until is None:
            return SigningKeys(current)
        until = self.previous_secret_key_until
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return SigningKeys(current, check_key(self.previous_secret_key,
                                              name="ROUTEKEEPER_PREVIOUS_SECRET_KEY"), until)

    @property
    def data_directory(self) -> Path:
        """Where the service's own files live (``data_dir``, else next to the SQLite file)."""
        if self.data_dir is not None:
            return self.data_dir
        url = self.database.url
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///").split("?", 1)[0]
            if path and path != ":memory:":
                return Path(path).parent
        return Path("./var")

    @property
    def public_url(self) -> str:
        """The base of the links in answers, webhooks, exports and mail (core/public_url)."""
        if self.configured_public_url:
            return self.configured_public_url.rstrip("/")
        return forwarded_base() or self.bound_url

    @property
    def is_sqlite(self) -> bool:
        return self.database.url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with top-level sections replaced (used by tests and the CLI)."""
        return self.model_copy(update=changes)
