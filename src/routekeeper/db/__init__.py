"""Database access: engine, sessions, base classes and portable column types."""

from routekeeper.db.base import Base
from routekeeper.db.engine import Database

__all__ = ["Base", "Database"]
