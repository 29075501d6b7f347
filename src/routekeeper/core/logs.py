"""Logging: one line per record, JSON or text, with the request id and no secrets.

Secrets reach log lines through URLs (OsmAnd's ingest key is the ``id`` query parameter, embed
links carry ``token``, download links ``signature``) and through messages that quote bodies.
``redact`` scrubs both shapes, and every handler installed here runs it on the final line, so
a library's own record (uvicorn's access log) is scrubbed as well as ours.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from routekeeper.core.context import current_request_id
from routekeeper.settings import LogFormat, LogSettings

REDACTED = "[redacted]"
# Query parameters whose values are credentials wherever they appear.
SECRET_PARAMS = ("id", "deviceid", "device_id", "key", "token", "access_token", "signature",
                 "secret", "secret_key", "client_secret", "password", "embed_token")
_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;\s\"'#]*")
_JSON_FIELD = re.compile(
    r"(?i)(\"(?:secret|secret_key|client_secret|ingest_key|password|token|access_token|"
    r"signature)\"\s*:\s*\")[^\"]*(\")")
# Values that are secrets by their form, wherever they appear: ingest keys, webhook secrets,
# signed tokens (base64 body "." signature), Basic/Bearer credentials.
_SHAPES = re.compile(
    r"rkd_[A-Za-z0-9_-]+|whsec_[A-Za-z0-9+/=]+|(?i:(?<=basic )|(?<=bearer ))[A-Za-z0-9._~+/=-]{8,}")
# Public share links are capabilities: /t/<id> opens the page without credentials.
_SHARE_PATH = re.compile(r"(/t/)[^/?\s\"']+")


def redact(text: str) -> str:
    """``text`` with every credential it quotes replaced by ``[redacted]``."""
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JSON_FIELD.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    text = _SHAPES.sub(REDACTED, text)
    return _SHARE_PATH.sub(lambda m: m.group(1) + REDACTED, text)


# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one redacted JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """A readable line: time, level, logger, request id, message and extras as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one redacted text line."""
        line = super().format(record)
        request_id = getattr(record, "request_id", None) or current_request_id()
        extras = " ".join(f"{key}={value}" for key, value in _extras(record).items()
                          if key != "request_id")
        prefix = f"[{request_id}] " if request_id else ""
        head, _, rest = line.partition("\n")
        text = f"{prefix}{head}{' ' + extras if extras else ''}"
        return redact(f"{text}\n{rest}" if rest else text)


def formatter(settings: LogSettings) -> logging.Formatter:
    """The formatter the settings ask for."""
    return JsonFormatter() if settings.format == LogFormat.JSON else TextFormatter()


# The loggers that write straight to their own handlers (uvicorn's) are routed to ours.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure(settings: LogSettings, *, stream: Any = None) -> logging.Handler:
    """Send every log record to one handler on stderr (or ``stream``) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_routekeeper", False):
            root.removeHandler(old)
    handler._routekeeper = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    return handler
