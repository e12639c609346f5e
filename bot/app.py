"""Wiring: settings -> engine, stores, Slack app and HTTP server. Nothing here holds business logic."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from slack_bolt.async_app import AsyncApp

import handlers
from handlers.http import slack_events
from handlers.http.guard import BODY_READ_TIMEOUT
from bot.clock import Clock, SystemClock
from bot.features.deps import Deps
from bot.features.ingestion import Ingestion
from bot.features.slash_gate import SlashGate
from bot.domain.pricing import Pricer
from bot.settings import Settings
from bot.metrics import Metrics
from bot.slack.client import slack_client
from bot.slack.outbox import SlackOutbox
from storage.db import make_engine, on_statement
from storage.migrate import upgrade
from storage.stores.ledger import Ledger
from storage.stores.org import OrgStore
from storage.stores.requests import RequestStore

log = logging.getLogger(__name__)


async def build_deps(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Deps:
    """`migrate`: bring the schema to the latest Alembic revision first (tests start from a migrated copy instead)."""
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    org = OrgStore(engine)
    ledger = Ledger(engine, Pricer(), settings.sqlite_writer)
    metrics = Metrics()
    ingestion = Ingestion(ledger, org, clock)
    ingestion.metrics = metrics
    ingestion.max_event_cost_usd = settings.max_event_cost_usd
    # A small autocommit pool for read-only answers: on PostgreSQL a checkout's ping is one `;` and a read needs no
    # BEGIN/ROLLBACK, so `/tokens me` is three round trips (ping, who is asking, the figures). SQLite has no network.
    reads = (make_engine(settings.database_url, autocommit=True, pool_size=5)
             if engine.dialect.name == "postgresql" else engine)
    for pool in {id(e): e for e in (engine, reads)}.values():  # statements per event, per answer: /metrics
        on_statement(pool, metrics.db_statements.inc)
    gate = SlashGate(settings.slash_max_in_flight)
    return Deps(settings=settings, engine=engine, clock=clock, org=org, ledger=ledger, ingestion=ingestion,
                requests=RequestStore(engine), metrics=metrics, reads=reads, slash_gate=gate,
                slack=SlackOutbox.from_settings(settings, metrics) if settings.slack_bot_token is not None else None)


@asynccontextmanager
async def opened_deps(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Deps]:
    """Deps for a CLI command: built, used, and the engine disposed whatever happens."""
    deps = await build_deps(settings, clock)
    try:
        yield deps
    finally:
        await deps.close()


def build_bolt_app(deps: Deps) -> AsyncApp:
    s = deps.settings
    assert s.slack_signing_secret is not None
    # AsyncApp verifies its token (auth.test) lazily on the first Slack request, so a Slack outage at start-up
    # cannot stop ingestion from starting.
    app = AsyncApp(client=slack_client(s, deps.metrics), signing_secret=s.slack_signing_secret.get_secret_value())

    async def with_deps(context, next) -> None:  # noqa: ANN001, A002 - bolt's middleware signature
        # Listeners are module-level functions (tests import them): they find the process's Deps in their context.
        context["deps"] = deps
        # Bolt builds a plain client per request; listeners get our metered one (same token, base URL and retries).
        if deps.slack is not None:
            context["client"] = deps.slack.quick_client
        await next()

    app.middleware(with_deps)
    handlers.register_slack(app, deps)
    return app


def build_web_app(deps: Deps, bolt_app: AsyncApp | None) -> web.Application:
    # aiohttp's own cap sits above ours so the ingestion handler can answer 413 with a readable reason.
    web_app = web.Application(client_max_size=deps.settings.max_body_bytes + 1024 * 1024)
    web_app[BODY_READ_TIMEOUT] = deps.settings.body_read_timeout_s
    handlers.register_http(web_app, deps)
    if bolt_app is not None:
        slack_events.register(web_app, deps, bolt_app)
    return web_app


def app_runner(web_app: web.Application) -> web.AppRunner:
    # aiohttp keeps reading a refused (413) upload for `lingering_time` before closing; a second is plenty.
    # On SIGTERM, requests in flight get 3 s to finish (aiohttp's default is a minute). Bodies are inflated by the
    # handlers (handlers.http.guard.read_capped), capped and answered with a 400 if corrupt.
    return web.AppRunner(web_app, access_log=None, lingering_time=1.0, shutdown_timeout=3.0, auto_decompress=False)
