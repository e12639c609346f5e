"""The whole bot in this process with settings of the test's choosing (the `bot` fixture's defaults otherwise)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
from bot.clock import ManualClock
from bot.domain.org import parse_org
from tests.conftest import NOW, ORG_YAML, SIGNING_SECRET, RunningBot, bot_settings
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SlackSender


@asynccontextmanager
async def running_bot(tmp_path: Path, database_url: str, slack: FakeSlack | None,
                      **extra: object) -> AsyncIterator[RunningBot]:
    clock = ManualClock(NOW)
    deps = await build_deps(bot_settings(tmp_path, slack, database_url, **extra), clock, migrate=False)
    await deps.org.sync(parse_org(ORG_YAML), int(NOW.timestamp()))
    runner = app_runner(build_web_app(deps, build_bolt_app(deps) if slack is not None else None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            yield RunningBot(url=url, deps=deps, clock=clock, slack=slack,  # type: ignore[arg-type]
                             sender=SlackSender(http, f"{url}/slack/events", SIGNING_SECRET), http=http)
    finally:
        await runner.cleanup()
        await deps.close()
