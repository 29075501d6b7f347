"""The console's routes, in one router for the app to include."""

from __future__ import annotations

from fastapi import APIRouter

from routekeeper.console import account, devices, exports, webhooks

router = APIRouter(include_in_schema=False)
for part in (account.router, webhooks.router, devices.router, exports.router):
    router.include_router(part)
