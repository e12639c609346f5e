"""The running bot with a GitHub webhook secret and an org file that names GitHub logins, and a signed delivery."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
from bot.clock import ManualClock
from bot.domain.org import parse_org
from tests.conftest import NOW, ORG_YAML, SIGNING_SECRET, RunningBot, bot_settings
from tests.support import github_payloads as gh
from tests.support.slack_requests import SlackSender

# Ada is `ada-gh` on GitHub; Alan's login is not in the org file yet.
GH_ORG_YAML = ORG_YAML.replace("gateway_ids: [ada, sk-ada]", "gateway_ids: [ada, sk-ada], github: Ada-GH")


@pytest.fixture
async def gh_bot(tmp_path: Path, fake_slack, database_url: str) -> AsyncIterator[RunningBot]:  # noqa: ANN001
    clock = ManualClock(NOW)
    settings = bot_settings(tmp_path, fake_slack, database_url, TOKENBOT_GITHUB_WEBHOOK_SECRET=gh.WEBHOOK_SECRET)
    deps = await build_deps(settings, clock, migrate=False)
    await deps.org.sync(parse_org(GH_ORG_YAML), int(NOW.timestamp()))
    runner = app_runner(build_web_app(deps, build_bolt_app(deps)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        yield RunningBot(url=url, deps=deps, clock=clock, slack=fake_slack,
                         sender=SlackSender(http, f"{url}/slack/events", SIGNING_SECRET), http=http)
    await runner.cleanup()
    await deps.close()


async def deliver(bot: RunningBot, event: str, payload: dict | bytes, **kw: object) -> tuple[int, dict]:
    body, headers = gh.signed(event, payload, **kw)  # type: ignore[arg-type]
    async with bot.http.post(f"{bot.url}/v1/ingest/github", data=body, headers=headers) as resp:
        return resp.status, await resp.json()
