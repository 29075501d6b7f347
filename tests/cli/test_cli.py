"""The ``routekeeper`` command line, in-process against a temporary SQLite file and once as a
real subprocess."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.cli.main import main
from routekeeper.settings import DatabaseSettings, Environment, Settings

# Variables that would point the CLI somewhere else than the test's database.
_FOREIGN_ENV = ("ROUTEKEEPER_DATABASE_URL", "ROUTEKEEPER_ENVIRONMENT", "ROUTEKEEPER_SECRET_KEY",
                "DATABASE_URL")


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite file the CLI uses through ROUTEKEEPER_DATABASE__URL."""
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", url)
    return url


@pytest.fixture
def migrated(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's database after ``routekeeper db upgrade``."""
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    return db_url


@pytest.fixture
def client_for(migrated: str) -> Iterator[TestClient]:
    """An API client over the CLI's database (no credentials of its own)."""
    settings = Settings(_env_file=None).model_copy(update={
        "environment": Environment.TEST, "secret_key": secrets.token_urlsafe(32),
        "database": DatabaseSettings(url=migrated),
    })
    with TestClient(create_app(settings, run_worker=False)) as client:
        yield client


def _create(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, str]:
    assert main(["accounts", "create", "--name", name, "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1, out
    created: dict[str, str] = json.loads(out)
    return created


def test_db_upgrade_creates_the_tables(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``db upgrade`` migrates an empty file, and running it again changes nothing."""
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
    engine = create_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"account", "ops_group", "worker", "order", "job", "alembic_version"} <= tables
    assert main(["db", "upgrade"]) == 0


def test_db_check_passes_after_upgrade_and_fails_before(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``db check`` fails on a database that is behind, and agrees once it is migrated."""
    assert main(["db", "check"]) == 1
    assert "not up to date" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "check"]) == 0
    assert "agree" in capsys.readouterr().out


def test_accounts_create_prints_credentials_that_work(
    client_for: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """``accounts create --json`` prints one JSON object whose credentials open the API."""
    created = _create(capsys, "Acme")
    assert {"account_id", "secret_key"} <= set(created)
    assert created["name"] == "Acme"
    auth = (created["account_id"], created["secret_key"])
    response = client_for.get("/workers/ops-groups/default", auth=auth)
    assert response.status_code == 200, response.text
    assert client_for.get("/workers/", auth=(created["account_id"], "wrong")).status_code == 401


def test_accounts_create_without_json_prints_lines(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--json`` the credentials come as ``key: value`` lines."""
    assert main(["accounts", "create", "--name", "Plain", "--email", "a@b.c"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["name"] == "Plain" and lines["account_id"] and lines["secret_key"]


def test_accounts_list_shows_accounts_but_no_secrets(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``accounts list`` names every account, oldest first, and never prints a secret."""
    first = _create(capsys, "First")
    second = _create(capsys, "Second")
    assert main(["accounts", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["account_id"] for a in listed] == [first["account_id"], second["account_id"]]
    assert [a["name"] for a in listed] == ["First", "Second"]
    assert all("secret_key" not in a for a in listed)
    assert main(["accounts", "list"]) == 0
    text = capsys.readouterr().out
    assert first["account_id"] in text and "Second" in text
    assert first["secret_key"] not in text and second["secret_key"] not in text


def test_rotate_secret_replaces_the_secret(
    client_for: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """``accounts rotate-secret`` prints a new secret; only the new one opens the API."""
    created = _create(capsys, "Rotating")
    assert main(["accounts", "rotate-secret", created["account_id"], "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["account_id"] == created["account_id"]
    old = (created["account_id"], created["secret_key"])
    new = (created["account_id"], rotated["secret_key"])
    assert client_for.get("/workers/", auth=old).status_code == 401
    assert client_for.get("/workers/", auth=new).status_code == 200


def test_rotate_secret_of_an_unknown_account_fails(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rotating an account that does not exist exits 1 and says so on stderr."""
    assert main(["accounts", "rotate-secret", "nope"]) == 1
    assert "no account nope" in capsys.readouterr().err


def test_demo_is_idempotent(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo`` migrates, creates one account and its Helsinki day once, and prints the same
    credentials every time, kept in a file only its owner can read."""
    path = tmp_path / "demo" / "credentials.json"
    assert main(["demo", "--credentials-file", str(path)]) == 0
    created, first = capsys.readouterr().out.split("\n", 1)
    assert created.startswith("Demo day ") and "30 orders, 3 workers" in created
    assert main(["demo", "--credentials-file", str(path)]) == 0
    assert capsys.readouterr().out == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["account_id"] in first and saved["secret_key"] in first
    assert main(["accounts", "list", "--json"]) == 0
    assert [a["account_id"] for a in json.loads(capsys.readouterr().out)] == [
        saved["account_id"]
    ]


def test_demo_replaces_credentials_that_no_longer_work(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A credentials file of another database (or a rotated secret) gets a new account."""
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"account_id": "gone", "secret_key": "stale"}))
    assert main(["demo", "--credentials-file", str(path)]) == 0
    assert json.loads(path.read_text())["account_id"] != "gone"


def test_commands_on_an_unmigrated_database_fail_cleanly(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``db upgrade`` a command exits 1 with a hint instead of a traceback."""
    assert main(["accounts", "list"]) == 1
    err = capsys.readouterr().err
    assert "db upgrade" in err and "Traceback" not in err


def test_production_with_the_default_secret_is_refused(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In any environment the CLI refuses to start with the old development secret key or a
    short one, and accepts a long random one."""
    monkeypatch.setenv("ROUTEKEEPER_ENVIRONMENT", "production")
    for refused in ("development-secret-do-not-use-in-production", "a-real-production-secret"):
        monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", refused)
        assert main(["db", "upgrade"]) == 2
        assert "ROUTEKEEPER_SECRET_KEY" in capsys.readouterr().err
    monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", secrets.token_urlsafe(32))
    assert main(["db", "upgrade"]) == 0


def test_the_installed_script_creates_an_account(
    migrated: str, client_for: TestClient
) -> None:
    """The ``routekeeper`` console script, run as a process, prints working credentials."""
    script = Path(sys.executable).with_name("routekeeper")
    env = {key: value for key, value in os.environ.items() if key not in _FOREIGN_ENV}
    env["ROUTEKEEPER_DATABASE__URL"] = migrated
    done = subprocess.run(
        [str(script), "accounts", "create", "--name", "Subprocess", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    auth = (created["account_id"], created["secret_key"])
    assert client_for.get("/workers/", auth=auth).status_code == 200
