"""The whole bot on its own event loop in a thread, for synchronous callers such as hypothesis tests."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
from bot.clock import ManualClock
from bot.domain.org import parse_org
from tests.support.fake_slack import FakeSlack


class ThreadedBot:
    def __init__(self, settings_for, now, org_yaml: str) -> None:  # noqa: ANN001
        self._settings_for = settings_for
        self._now = now
        self._org = org_yaml
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "ThreadedBot":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        from aiohttp import web

        self.slack = FakeSlack()
        await self.slack.start()
        self.deps = await build_deps(self._settings_for(self.slack), ManualClock(self._now))
        await self.deps.org.sync(parse_org(self._org), 0)
        self._runner = app_runner(build_web_app(self.deps, build_bolt_app(self.deps)))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await self.deps.close()
        await self.slack.stop()


__all__ = ["ThreadedBot", "Path"]
