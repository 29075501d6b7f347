"""Run the tracking processor in a test, as a worker would right after an upload.

Uploads answer once their positions are stored; visits, ETAs, risks and webhooks come from the
tracking processor (``routekeeper.tracking.processor``), which in production runs in the
worker processes. Tests that look at what an upload led to call :func:`drain` (or upload
through helpers that do) before looking.
"""

from __future__ import annotations

from typing import Any

from routekeeper.tracking.processor import drain as drain_inbox


def drain(app_or_client: Any) -> int:
    """Process every stored fix waiting in the inbox; how many were processed."""
    app = getattr(app_or_client, "app", app_or_client)
    state = app.state
    return drain_inbox(state.db, state.settings, state.travel)
