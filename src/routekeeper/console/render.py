"""Rendering console pages: one template environment, one set of security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True,
                          lstrip_blocks=True)

# Pages carry secrets shown once: never cached, never framed, no outside resources. Styles
# are inline in the layout; the QR code is inline SVG.
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
                                "data:; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'"),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page(request: Request, template: str, context: dict[str, Any], *,
         status_code: int = 200) -> HTMLResponse:
    """Render a console page with the console's headers."""
    html = _env.get_template(template).render(
        {"request_path": request.url.path, "csrf": "", "account": None, "notice": None,
         "error": None, **context})
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def see_other(location: str) -> RedirectResponse:
    """A 303 to a console page (after a form post, so reloading does not post again)."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
