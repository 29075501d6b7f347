"""Settings from the environment: both spellings of the database URL, and the refusal of
the development secret in production."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from routekeeper.cli.main import main
from routekeeper.settings import Environment, Settings

_FOREIGN_ENV = ("ROUTEKEEPER_DATABASE_URL", "ROUTEKEEPER_DATABASE__URL",
                "ROUTEKEEPER_ENVIRONMENT", "ROUTEKEEPER_SECRET_KEY", "DATABASE_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without Routekeeper settings."""
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)


def test_sqlite_is_the_default() -> None:
    """Without settings the service uses a local SQLite file in development."""
    settings = Settings()
    assert settings.environment == Environment.DEVELOPMENT
    assert settings.is_sqlite


@pytest.mark.parametrize("variable", ["ROUTEKEEPER_DATABASE_URL", "ROUTEKEEPER_DATABASE__URL"])
def test_either_variable_selects_the_database(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The flat alias and the nested variable both select the database, for the settings
    and for the CLI that migrates it."""
    path = tmp_path / f"{variable.lower()}.db"
    url = f"sqlite:///{path}"
    monkeypatch.setenv(variable, url)
    assert Settings().database.url == url
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert path.exists() and path.stat().st_size > 0


def test_the_nested_variable_wins_over_the_flat_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When both are set, ROUTEKEEPER_DATABASE__URL is the one used."""
    monkeypatch.setenv("ROUTEKEEPER_DATABASE_URL", f"sqlite:///{tmp_path / 'flat.db'}")
    monkeypatch.setenv("ROUTEKEEPER_DATABASE__URL", f"sqlite:///{tmp_path / 'nested.db'}")
    assert Settings().database.url.endswith("nested.db")


def test_an_unprefixed_database_url_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ROUTEKEEPER_-prefixed variables configure the service (a DATABASE_URL meant for
    another program must not redirect it)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'foreign.db'}")
    assert not Settings().database.url.endswith("foreign.db")


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_every_environment_refuses_published_and_short_keys(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    """The old development secret, a short key and a typed one are refused everywhere."""
    monkeypatch.setenv("ROUTEKEEPER_ENVIRONMENT", environment)
    for refused in ("development-secret-do-not-use-in-production", "a-real-secret",
                    "a" * 64, "changemechangemechangemechangeme"):
        monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", refused)
        with pytest.raises(ValidationError, match="ROUTEKEEPER_SECRET_KEY"):
            Settings()
    monkeypatch.setenv("ROUTEKEEPER_SECRET_KEY", secrets.token_urlsafe(32))
    assert Settings().environment == Environment(environment)
