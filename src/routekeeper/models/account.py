"""Accounts: the tenants, with their salted secret hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from routekeeper.db.base import Base
from routekeeper.db.types import UTCDateTime


class Account(Base):
    """A tenant; its ``account_id`` leads the key of every other tenant table."""

    __tablename__ = "account"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    secret_salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(128))
    # Bumped on rotation so bearer tokens issued for the old secret stop working.
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
