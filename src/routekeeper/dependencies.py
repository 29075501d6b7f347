"""FastAPI dependencies shared by every domain: settings, database, sessions, travel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.geocoding.service import Geocoder
from routekeeper.settings import Settings
from routekeeper.travel.base import TravelModel


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_geocoder(request: Request) -> Geocoder | None:
    """The app's geocoder, or None when none is configured."""
    geocoder: Geocoder | None = request.app.state.geocoder
    return geocoder


def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_travel(request: Request) -> TravelModel:
    """The app's travel model."""
    travel: TravelModel = request.app.state.travel
    return travel


def get_runner(request: Request) -> JobRunner | None:
    """The in-process job runner, or None when jobs run in worker processes only."""
    runner: JobRunner | None = request.app.state.runner
    return runner


def _write_session(request: Request) -> Iterator[Session]:
    # Commits when the endpoint returns, before the response is sent (scope="function"),
    # so a failed commit is an error response and never a false success.
    with get_db(request).write() as session:
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    with get_db(request).read() as session:
        yield session


WriteSession = Annotated[Session, Depends(_write_session, scope="function")]
ReadSession = Annotated[Session, Depends(_read_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GeocoderDep = Annotated[Geocoder | None, Depends(get_geocoder)]
TravelDep = Annotated[TravelModel, Depends(get_travel)]
DatabaseDep = Annotated[Database, Depends(get_db)]
RunnerDep = Annotated[JobRunner | None, Depends(get_runner)]
