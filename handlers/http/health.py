"""`/healthz` (the process answers and the database is reachable), `/readyz` (and the schema is current: a replica
behind a load balancer takes traffic only then) and `/metrics` (Prometheus)."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.features.deps import Deps
from storage.db import database_error
from storage.migrate import current_revision, head_revision


def register(web_app: web.Application, deps: Deps) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        error = await database_error(deps.engine)
        if error:
            return web.json_response({"ok": False, "database": error}, status=503)
        return web.json_response({"ok": True, "slack": deps.settings.slack_configured})

    async def readyz(_request: web.Request) -> web.Response:
        error = await database_error(deps.engine)
        if error:
            return web.json_response({"ready": False, "database": error}, status=503)
        current, head = await current_revision(deps.engine), head_revision()
        if current != head:
            return web.json_response({"ready": False, "schema": current, "latest": head,
                                      "fix": "run `tokenbot db upgrade`"}, status=503)
        return web.json_response({"ready": True, "schema": current})

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=deps.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics)
