"""The whole bot, for real: its HTTP server on 127.0.0.1, a real SQLite file, and the fake Slack Web API."""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
from bot.clock import ManualClock
from bot.features.deps import Deps
from bot.domain.org import parse_org
from bot.settings import Settings, load_settings
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SlackSender

SIGNING_SECRET = "test-signing-secret-0123456789"
INGEST_TOKEN = "ingest-token-abc"
OTLP_TOKEN = "otlp-token-xyz"
NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon

ORG_YAML = """
org:
  name: Test Corp
  admins: [U0ADMIN]
  help_contact: "#finops"
teams:
  - slug: platform
    name: Platform
    channel: C0PLAT
    timezone: Europe/Berlin
    monthly_budget_usd: 1000
    approvers: [U0BOSS]
  - slug: research
    name: Research
    channel: C0RES
    timezone: America/New_York
    monthly_budget_usd: 5000
    approvers: [U0RBOSS]
people:
  - {email: ada@test.example, slack_id: U0ADA, name: Ada, team: platform, gateway_ids: [ada, sk-ada], monthly_budget_usd: 100}
  - {email: alan@test.example, slack_id: U0ALAN, name: Alan, team: platform, gateway_ids: [alan]}
  - {email: grace@test.example, name: Grace, team: research, gateway_ids: [grace]}
"""


@dataclass
class RunningBot:
    url: str
    deps: Deps
    clock: ManualClock
    slack: FakeSlack
    sender: SlackSender
    http: aiohttp.ClientSession

    async def ingest(self, body: object, token: str = INGEST_TOKEN) -> tuple[int, dict]:
        import json

        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        async with self.http.post(f"{self.url}/v1/usage", data=data,
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()


# Set to a PostgreSQL URL (e.g. postgresql+asyncpg://root@127.0.0.1/test) to run the suite on PostgreSQL: each test
# then gets a database of its own, created and dropped around it. Unset: a SQLite file per test.
POSTGRES_URL = os.environ.get("TOKENBOT_TEST_POSTGRES_URL")


def _admin_connect(base):  # noqa: ANN001, ANN202
    import asyncpg

    return asyncpg.connect(user=base.username, host=base.host or "127.0.0.1", port=base.port or 5432,
                           database=base.database or "postgres", password=base.password)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The schema, built once per session by the real Alembic migrations; each test starts from a copy of it."""
    import asyncio

    from sqlalchemy.engine import make_url

    from storage.db import make_engine
    from storage.migrate import upgrade

    async def migrate(url: str) -> None:
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()

    if not POSTGRES_URL:
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    base = make_url(POSTGRES_URL)
    name = f"tokenbot_template_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = await _admin_connect(base)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        await migrate(base.set(database=name).render_as_string(hide_password=False))

    async def drop() -> None:
        admin = await _admin_connect(base)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    asyncio.run(create())
    yield name
    asyncio.run(drop())


@pytest.fixture
async def database_url(tmp_path: Path, migrated_template: str) -> AsyncIterator[str]:
    if not POSTGRES_URL:
        import shutil

        shutil.copyfile(migrated_template, tmp_path / "tokenbot.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'tokenbot.db'}"
        return
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES_URL)
    name = f"tokenbot_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin_connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        yield base.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def bot_settings(tmp_path: Path, slack: FakeSlack | None, database_url: str | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {
        "TOKENBOT_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp_path / 'tokenbot.db'}",
        "TOKENBOT_INGEST_TOKENS": f"{INGEST_TOKEN},second-token",
        "TOKENBOT_OTLP_TOKENS": OTLP_TOKEN,
        "TOKENBOT_PORT": 0,
        "TOKENBOT_CHECK_CACHE_SECONDS": 0,  # the budget check re-reads spend at once, so tests see their ingests
    }
    if slack is not None:
        values |= {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                   "TOKENBOT_SLACK_API_URL": slack.api_url}
    return load_settings(**(values | extra))


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
async def bot(tmp_path: Path, fake_slack: FakeSlack, database_url: str) -> AsyncIterator[RunningBot]:
    clock = ManualClock(NOW)
    deps = await build_deps(bot_settings(tmp_path, fake_slack, database_url), clock, migrate=False)
    await deps.org.sync(parse_org(ORG_YAML), int(NOW.timestamp()))
    runner = app_runner(build_web_app(deps, build_bolt_app(deps)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        yield RunningBot(url=url, deps=deps, clock=clock, slack=fake_slack,
                         sender=SlackSender(http, f"{url}/slack/events", SIGNING_SECRET), http=http)
    await runner.cleanup()
    await deps.close()
