"""`/healthz`: the process is up and the database answers."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from bot.deps import Deps


def register(web_app: web.Application, deps: Deps) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with deps.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
            return web.json_response({"ok": False, "database": type(exc).__name__}, status=503)
        return web.json_response({"ok": True, "slack": deps.settings.slack_configured})

    web_app.router.add_get("/healthz", healthz)
