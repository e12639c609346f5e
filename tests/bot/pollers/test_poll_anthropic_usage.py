"""The Anthropic usage-report poller against a fake Anthropic admin API, into the real bot's ledger."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_deps
from bot.domain.org import parse_org
from bot.pollers.anthropic_usage import anthropic_result_to_event, poll_anthropic_usage
from storage.tables.core import usage_events
from tests.conftest import NOW, ORG_YAML
from tests.support.fake_usage_api import FakeUsageAPI, anthropic_result
from tests.support.pollers import RecordingSleep, deps_with

H = int(NOW.timestamp()) // 3600 * 3600
KEY = "apikey_01Rj2N8SVvo6BePZj99NhmiT"
ORG = ORG_YAML.replace("gateway_ids: [grace]", f"gateway_ids: [grace, {KEY.lower()}]")


@pytest.fixture
async def anthropic(bot) -> AsyncIterator[FakeUsageAPI]:  # noqa: ANN001
    fake = FakeUsageAPI("anthropic", bot.clock)
    await fake.start()
    await bot.deps.org.sync(parse_org(ORG), int(NOW.timestamp()))
    yield fake
    await fake.stop()


def deps_for(bot, fake: FakeUsageAPI):  # noqa: ANN001, ANN201
    return deps_with(bot.deps, anthropic_admin_key=fake.admin_key, anthropic_api_url=fake.url,
                     poll_first_lookback_days=1)  # these tests read the last day; a fresh install reads the month


def fill(fake: FakeUsageAPI, hours: range) -> int:
    for h in hours:
        fake.add(H - h * 3600, anthropic_result(api_key_id=KEY, workspace_id="wrkspc_01", model="claude-sonnet-4-5",
                                                uncached=1_000_000, output=0))
        fake.add(H - h * 3600, anthropic_result(api_key_id=None, workspace_id=None, model="claude-haiku-4-5",
                                                uncached=100, cache_read=900, write_5m=50, write_1h=10, output=40))
    return 2 * len(hours)


async def count(bot) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()


def test_result_maps_cache_tokens_into_input_and_keeps_writes_in_metadata() -> None:
    r = anthropic_result(api_key_id=KEY, workspace_id="wrkspc_01", model="claude-sonnet-4-5", uncached=100,
                         cache_read=900, write_5m=50, write_1h=10, output=40)
    e = anthropic_result_to_event(H, H + 3600, r)
    assert e["id"] == f"anthropic:{H}:{KEY}:wrkspc_01:claude-sonnet-4-5:0-200k" and e["user"] == KEY
    assert (e["input_tokens"], e["cached_input_tokens"], e["output_tokens"]) == (1060, 900, 40)
    assert (e["metadata"]["billing"]["cache_write_5m"], e["metadata"]["billing"]["cache_write_1h"]) == (50, 10)
    console = anthropic_result_to_event(H, H + 3600, r | {"api_key_id": None, "workspace_id": None})
    assert console["user"] == "anthropic:console"
    assert anthropic_result_to_event(H, H + 3600, anthropic_result(api_key_id=KEY, workspace_id=None,
                                                                    model="m")) is None


async def test_pages_through_closed_hours_and_attributes_by_api_key(bot, anthropic) -> None:  # noqa: ANN001
    n = fill(anthropic, range(1, 4))
    anthropic.page_buckets = 5
    report = await poll_anthropic_usage(deps_for(bot, anthropic))
    assert report.ok, report.error
    assert report.accepted == n == 6 and report.pages == 5 and report.cursor == H
    grace = await bot.deps.org.person_by_ref("grace")
    async with bot.deps.engine.connect() as conn:
        cost = (await conn.execute(select(func.sum(usage_events.c.cost_micros))
                                   .where(usage_events.c.person_id == grace.id))).scalar_one()
    assert cost == 3 * 3_000_000  # claude-sonnet-4-5: $3 per million input tokens (a bucket is not one huge request)
    first = anthropic.calls[0]
    assert [v for k, v in first if k == "group_by[]"] == ["api_key_id", "workspace_id", "model", "context_window",
                                                         "service_tier", "inference_geo", "speed"]
    assert ("ending_at", "2026-11-18T15:00:00Z") in first


async def test_long_context_window_is_priced_at_the_long_context_tier(bot, anthropic) -> None:  # noqa: ANN001
    for window in ("0-200k", "200k-1M"):
        anthropic.add(H - 3600, anthropic_result(api_key_id=KEY, workspace_id=None, model="claude-sonnet-4-5",
                                                 uncached=1_000_000) | {"context_window": window})
    assert (await poll_anthropic_usage(deps_for(bot, anthropic))).accepted == 2
    async with bot.deps.engine.connect() as conn:
        costs = sorted((await conn.execute(select(usage_events.c.cost_micros))).scalars())
    assert costs == [3_000_000, 6_000_000]


async def test_500_mid_pagination_then_resume_counts_each_bucket_once(bot, anthropic) -> None:  # noqa: ANN001
    n = fill(anthropic, range(1, 24))
    anthropic.page_buckets = 4
    anthropic.fail(500, page=2)
    deps = deps_for(bot, anthropic)
    first = await poll_anthropic_usage(deps)
    assert not first.ok and "HTTP 500" in first.error
    assert first.accepted == 2 * 3  # page 1: 4 buckets, the first without usage
    second = await poll_anthropic_usage(deps)
    assert second.ok and second.accepted == n - 6 and second.duplicates == 2
    assert await count(bot) == n


async def test_429_honours_retry_after_and_open_hour_waits(bot, anthropic) -> None:  # noqa: ANN001
    anthropic.add(H, anthropic_result(api_key_id=KEY, workspace_id=None, model="claude-sonnet-4-5", uncached=10))
    anthropic.fail(429, retry_after="2")
    sleep = RecordingSleep()
    deps = deps_for(bot, anthropic)
    report = await poll_anthropic_usage(deps, sleep=sleep)
    assert report.ok and report.accepted == 0 and sleep.waits == [2.0]  # 15:00-16:00 has not ended
    bot.clock.advance(timedelta(hours=1))
    restarted = await build_deps(deps.settings, bot.clock)
    try:
        report = await poll_anthropic_usage(restarted)
        assert report.ok and report.accepted == 1 and report.cursor == H + 3600
    finally:
        await restarted.close()


async def test_headers_and_configuration_errors(bot, anthropic) -> None:  # noqa: ANN001
    assert (await poll_anthropic_usage(bot.deps)).error.startswith("not configured: set TOKENBOT_ANTHROPIC_ADMIN_KEY")
    bad = deps_with(bot.deps, anthropic_admin_key="sk-ant-admin-wrong", anthropic_api_url=anthropic.url)
    assert "HTTP 401" in (await poll_anthropic_usage(bad)).error
