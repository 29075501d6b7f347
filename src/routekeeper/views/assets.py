"""Templates, static files, and where Leaflet (installed from npm by ``make install``) lives."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

import jinja2
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
# The repository root in a source checkout (src/routekeeper/views -> the root).
_ROOT = HERE.parents[2]

templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True))


def leaflet_dir() -> Path | None:
    """Leaflet's ``dist`` folder: from ``node_modules`` of the checkout or the working
    directory, or a copy under the static files; None when it is not installed."""
    for candidate in (_ROOT / "node_modules" / "leaflet" / "dist",
                      Path.cwd() / "node_modules" / "leaflet" / "dist",
                      STATIC_DIR / "vendor" / "leaflet"):
        if (candidate / "leaflet.js").is_file():
            return candidate
    return None


@cache
def asset_version() -> str:
    """A short fingerprint of the static files, appended to their URLs to bust caches."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


class CachedStaticFiles(StaticFiles):
    """Static files that browsers may keep for a day without asking again (the pages' own
    files also carry a content fingerprint in their URLs, so a change is fetched at once)."""

    max_age_s = 24 * 3600

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        """The file, with a Cache-Control header."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = f"public, max-age={self.max_age_s}"
        return response
