"""Run Alembic programmatically against a Routekeeper database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from routekeeper.db.engine import normalise_url

_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    config = Config(str(_INI))
    config.set_main_option("script_location", str(_INI.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail if the models and the migrated database differ (``alembic check``)."""
    command.check(alembic_config(url))
