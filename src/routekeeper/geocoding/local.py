"""A local Nominatim built from an OpenStreetMap extract, for users who want one (and the tests).

Nominatim runs in its own virtualenv under ``var/nominatim/venv``, made from Debian's
``/usr/bin/python3`` with ``--system-site-packages`` so that it uses Debian's ``python3-icu``
(PyICU compiles for minutes from PyPI). Its database lives on the PostgreSQL server given
(PostGIS and ``osm2pgsql`` come from Debian). Routekeeper itself only talks to it over HTTP.

``build.json`` in the home directory records what was imported (database, extract digest),
so building again with the same extract is a no-op and the tests can find the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import psycopg
from psycopg import sql

NOMINATIM_PACKAGES = ("nominatim-db==5.3.*", "nominatim-api==5.3.*", "falcon>=3", "uvicorn")
SYSTEM_PYTHON = Path("/usr/bin/python3")
DEFAULT_WEBUSER = "routekeeper_geocoder"
DEFAULT_PORT = 8088
APT_PACKAGES = "osm2pgsql postgresql-15-postgis-3 python3-icu python3-venv"


class BuildError(RuntimeError):
    """The geocoder cannot be built here; the message says what is missing."""


def nominatim_dsn(pg_url: str, database: str) -> str:
    """Nominatim's ``pgsql:`` DSN for ``database`` on the server of a PostgreSQL URL."""
    parts = urlsplit(pg_url.replace("postgresql+psycopg://", "postgresql://", 1))
    fields = [f"dbname={database}"]
    if parts.hostname:
        fields.append(f"host={parts.hostname}")
    if parts.port:
        fields.append(f"port={parts.port}")
    if parts.username:
        fields.append(f"user={unquote(parts.username)}")
    if parts.password:
        fields.append(f"password={unquote(parts.password)}")
    return "pgsql:" + ";".join(fields)


def _server_url(pg_url: str) -> str:
    # psycopg takes plain libpq URLs; SQLAlchemy's driver suffix is not one.
    return pg_url.replace("postgresql+psycopg://", "postgresql://", 1)


def default_database(home: Path) -> str:
    """A database name of this checkout's own: several clones on one server do not collide."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]
    return f"rk_nominatim_{digest}"


def file_digest(path: Path) -> str:
    """sha256 of a file (which extract a database was imported from)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class LocalNominatim:
    """The geocoder of one checkout: its virtualenv, project directory and database."""

    home: Path

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def project(self) -> Path:
        return self.home / "project"

    @property
    def record_path(self) -> Path:
        return self.home / "build.json"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "nominatim"

    def record(self) -> dict[str, Any] | None:
        """What the last successful build imported, or None."""
        try:
            data = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def missing(self, pg_url: str) -> list[str]:
        """What this machine lacks to build the geocoder (empty: it can be built)."""
        problems: list[str] = []
        if shutil.which("osm2pgsql") is None:
            problems.append("osm2pgsql is not installed")
        if not SYSTEM_PYTHON.exists():
            problems.append(f"{SYSTEM_PYTHON} is missing")
        else:
            probe = subprocess.run([str(SYSTEM_PYTHON), "-c", "import icu, venv, ensurepip"],
                                   capture_output=True, check=False)
            if probe.returncode != 0:
                problems.append("python3-icu or python3-venv is not installed")
        try:
            with psycopg.connect(_server_url(pg_url), connect_timeout=5) as conn:
                row = conn.execute("SELECT 1 FROM pg_available_extensions "
                                   "WHERE name = 'postgis'").fetchone()
                if row is None:
                    problems.append("PostGIS is not available on the PostgreSQL server")
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL at {pg_url} cannot be reached ({exc})")
        if problems:
            problems.append(f"install with: apt-get install {APT_PACKAGES}")
        return problems

    def install(self, log: Any = print) -> None:
        """Create Nominatim's virtualenv (once per package set)."""
        marker = self.venv / (".installed-" + hashlib.sha256(
            " ".join(NOMINATIM_PACKAGES).encode()).hexdigest()[:12])
        if marker.exists():
            return
        log(f"geocoder: creating {self.venv} (Nominatim {NOMINATIM_PACKAGES[0]})")
        shutil.rmtree(self.venv, ignore_errors=True)
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--system-site-packages",
                        str(self.venv)], check=True)
        subprocess.run([str(self.venv / "bin" / "pip"), "install", "-q",
                        "--disable-pip-version-check", *NOMINATIM_PACKAGES], check=True)
        marker.touch()

    def _ensure_role(self, pg_url: str, webuser: str) -> None:
        # Nominatim grants read access to this role and checks that it can log in.
        with psycopg.connect(_server_url(pg_url), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (webuser,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(webuser)))
            else:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(webuser)))

    def _database_exists(self, pg_url: str, database: str) -> bool:
        with psycopg.connect(_server_url(pg_url)) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (database,)).fetchone() is not None

    def drop(self, pg_url: str, database: str | None = None) -> None:
        """Drop the geocoder's database (the one built here unless named)."""
        record = self.record() or {}
        name = database or record.get("database")
        if not name:
            return
        with psycopg.connect(_server_url(pg_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(str(name))))
        if record.get("database") == name:
            self.record_path.unlink(missing_ok=True)

    def environment(self, dsn: str, webuser: str) -> dict[str, str]:
        """The environment Nominatim's commands run with."""
        return {**os.environ, "NOMINATIM_DATABASE_DSN": dsn,
                "NOMINATIM_DATABASE_WEBUSER": webuser}

    def build(
        self, pbf: Path, *, pg_url: str, database: str | None = None,
        webuser: str = DEFAULT_WEBUSER, log: Any = print,
    ) -> dict[str, Any]:
        """Import ``pbf`` into a fresh database (skipped when it is already imported)."""
        if not pbf.is_file():
            raise BuildError(f"{pbf} does not exist (make osm-extract fetches the Helsinki one)")
        problems = self.missing(pg_url)
        if problems:
            raise BuildError("; ".join(problems))
        record = self.record()
        # Without a name, the database built here before is the one to keep using.
        database = database or (record or {}).get("database") or default_database(self.home)
        digest = file_digest(pbf)
        if (record and record.get("database") == database and record.get("pbf_sha256") == digest
                and self._database_exists(pg_url, database)):
            log(f"geocoder: {database} already holds {pbf.name}")
            return record
        self.install(log)
        if self._database_exists(pg_url, database):
            if not record or record.get("database") != database:
                raise BuildError(f"database {database} exists and was not built here; "
                                 "drop it or pass another --database")
            self.drop(pg_url, database)
        self._ensure_role(pg_url, webuser)
        self.project.mkdir(parents=True, exist_ok=True)
        dsn = nominatim_dsn(pg_url, database)
        # serve and the tests read the project's .env: one place that names the database.
        (self.project / ".env").write_text(
            f"NOMINATIM_DATABASE_DSN={dsn}\nNOMINATIM_DATABASE_WEBUSER={webuser}\n")
        log(f"geocoder: importing {pbf} into {database} (about a minute for Helsinki)")
        started = time.monotonic()
        result = subprocess.run(
            [str(self.executable), "import", "--osm-file", str(pbf.resolve()), "--offline",
             "--no-partitions", "--project-dir", str(self.project)],
            env=self.environment(dsn, webuser), check=False,
        )
        if result.returncode != 0:
            raise BuildError(f"nominatim import failed (exit {result.returncode})")
        record = {"database": database, "dsn": dsn, "webuser": webuser, "pbf": str(pbf),
                  "pbf_sha256": digest, "import_s": round(time.monotonic() - started, 1)}
        self.record_path.write_text(json.dumps(record, indent=2) + "\n")
        return record

    def start(self, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
              quiet: bool = False) -> subprocess.Popen[bytes]:
        """Start ``nominatim serve`` on ``host:port`` over the built database."""
        record = self.record()
        if record is None:
            raise BuildError("no geocoder is built here (routekeeper geocoder build --pbf FILE)")
        output = subprocess.DEVNULL if quiet else None
        return subprocess.Popen(
            [str(self.executable), "serve", "--server", f"{host}:{port}", "--engine", "falcon",
             "--project-dir", str(self.project)],
            env=self.environment(str(record["dsn"]), str(record["webuser"])),
            stdout=output, stderr=output, start_new_session=True,
        )


def wait_ready(url: str, *, timeout_s: float = 60.0,
               process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the geocoder at ``url`` answers its status endpoint."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BuildError(f"nominatim serve exited with {process.returncode}")
        try:
            response = httpx.get(f"{url}/status", params={"format": "json"}, timeout=2.0)
            if response.status_code == 200 and response.json().get("status") == 0:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise BuildError(f"the geocoder at {url} did not become ready in {timeout_s:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :meth:`LocalNominatim.start`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main_log(message: str) -> None:
    """Progress lines of the CLI go to stderr, so stdout keeps only what a script reads."""
    print(message, file=sys.stderr, flush=True)
