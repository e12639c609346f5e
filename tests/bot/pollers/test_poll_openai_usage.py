"""The OpenAI admin usage poller against a fake OpenAI usage API, into the real bot's ledger."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_deps
from bot.domain.org import parse_org
from bot.pollers.openai_usage import SOURCE, openai_result_to_event, poll_openai_usage
from storage.stores.ingest_state import CursorStore
from storage.tables.core import usage_events
from tests.conftest import NOW, ORG_YAML
from tests.support.fake_usage_api import FakeUsageAPI, openai_result
from tests.support.pollers import RecordingSleep, deps_with

H = int(NOW.timestamp()) // 3600 * 3600  # 15:00 UTC: the hour still open at NOW (15:30)
ORG = ORG_YAML.replace("gateway_ids: [ada, sk-ada]", "gateway_ids: [ada, sk-ada, user-ada1]") \
              .replace("gateway_ids: [alan]", "gateway_ids: [alan, key_alan1]")


@pytest.fixture
async def openai(bot) -> AsyncIterator[FakeUsageAPI]:  # noqa: ANN001
    fake = FakeUsageAPI("openai", bot.clock)
    await fake.start()
    await bot.deps.org.sync(parse_org(ORG), int(NOW.timestamp()))
    yield fake
    await fake.stop()


def deps_for(bot, fake: FakeUsageAPI):  # noqa: ANN001, ANN201
    return deps_with(bot.deps, openai_admin_key=fake.admin_key, openai_api_url=fake.url,
                     poll_first_lookback_days=1)  # these tests read the last day; a fresh install reads the month


def fill(fake: FakeUsageAPI, hours: range) -> int:
    n = 0
    for h in hours:
        fake.add(H - h * 3600, openai_result(user_id="user-ada1", api_key_id="key_ada1", model="gpt-4o",
                                             input_tokens=1_000_000, output_tokens=0, cached=0, requests=40))
        fake.add(H - h * 3600, openai_result(user_id=None, api_key_id="key_alan1", model="gpt-4o-mini",
                                             input_tokens=5000, output_tokens=700, cached=1000, requests=3))
        n += 2
    return n


async def events(bot, where=None) -> int:  # noqa: ANN001
    stmt = select(func.count()).select_from(usage_events)
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(stmt if where is None else stmt.where(where))).scalar_one()


async def person_cost(bot, ref: str) -> int:  # noqa: ANN001
    person = await bot.deps.org.person_by_ref(ref)
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.coalesce(func.sum(usage_events.c.cost_micros), 0))
                                   .where(usage_events.c.person_id == person.id))).scalar_one()


def test_result_maps_to_a_deterministic_event() -> None:
    r = openai_result(user_id="user-ada1", api_key_id="key_ada1", model="gpt-4o", input_tokens=10, output_tokens=2,
                      cached=4, requests=1)
    e = openai_result_to_event(H, H + 3600, r)
    assert e["id"] == f"openai:{H}:user-ada1:key_ada1:gpt-4o:proj_1" and e["user"] == "user-ada1"
    assert (e["input_tokens"], e["output_tokens"], e["cached_input_tokens"]) == (10, 2, 4)
    assert openai_result_to_event(H, H + 3600, r | {"user_id": None})["user"] == "key_ada1"
    assert openai_result_to_event(H, H + 3600, r | {"input_tokens": 0, "output_tokens": 0,
                                                    "num_model_requests": 0}) is None


async def test_pages_through_closed_hours_and_attributes_by_gateway_ids(bot, openai) -> None:  # noqa: ANN001
    n = fill(openai, range(1, 6))  # 10:00 .. 14:00
    openai.page_buckets = 4
    report = await poll_openai_usage(deps_for(bot, openai))
    assert report.ok, report.error
    assert report.accepted == n == 10 and report.pages == 6  # 24 hourly buckets, 4 a page
    assert report.cursor == H  # 15:00 is still open (and not settled): not read
    assert await person_cost(bot, "ada") == 5 * 2_500_000  # gpt-4o: $2.50 per million input tokens
    assert await person_cost(bot, "alan") > 0
    first = openai.calls[0]
    assert [v for k, v in first if k == "group_by"] == ["user_id", "api_key_id", "model", "project_id", "batch",
                                                       "service_tier"]
    assert ("bucket_width", "1h") in first and ("end_time", str(H)) in first


async def test_open_bucket_is_read_only_once_it_has_ended_and_settled(bot, openai) -> None:  # noqa: ANN001
    deps = deps_for(bot, openai)
    openai.add(H, openai_result(user_id="user-ada1", api_key_id="k", model="gpt-4o", input_tokens=1000))
    assert (await poll_openai_usage(deps)).accepted == 0
    openai.add(H, openai_result(user_id="user-ada1", api_key_id="k2", model="gpt-4o", input_tokens=1000))
    bot.clock.advance(timedelta(minutes=40))  # 16:10: 15:00-16:00 ended, but not 15 minutes ago
    assert (await poll_openai_usage(deps)).accepted == 0
    bot.clock.advance(timedelta(minutes=10))
    report = await poll_openai_usage(deps)
    assert report.ok and report.accepted == 2 and report.cursor == H + 3600


async def test_reading_the_same_buckets_again_counts_nothing_twice(bot, openai) -> None:  # noqa: ANN001
    n = fill(openai, range(1, 4))
    deps = deps_for(bot, openai)
    await poll_openai_usage(deps)
    await CursorStore(bot.deps.engine).set(SOURCE, H - 24 * 3600, 0)  # as if the cursor had been lost
    again = await poll_openai_usage(deps)
    assert again.ok and again.accepted == 0 and again.duplicates == n
    assert await events(bot) == n


async def test_500_mid_pagination_keeps_what_was_read_and_resumes(bot, openai) -> None:  # noqa: ANN001
    n = fill(openai, range(1, 24))  # usage in every hour from 16:00 yesterday to 14:00 today
    openai.page_buckets = 5
    openai.fail(500, page=3)
    deps = deps_for(bot, openai)
    first = await poll_openai_usage(deps)
    assert not first.ok and "HTTP 500" in first.error and "resumes from" in first.error
    assert first.accepted == 2 * 9  # pages 1 and 2: 10 buckets (15:00 yesterday had no usage), 2 results each
    assert first.cursor == H - 24 * 3600 + 9 * 3600  # the start of the last bucket read
    second = await poll_openai_usage(deps)
    assert second.ok, second.error
    assert second.accepted == n - 18 and second.duplicates == 2  # the last bucket of page 2, read again
    assert await events(bot) == n


async def test_429_backs_off_as_told_then_succeeds(bot, openai) -> None:  # noqa: ANN001
    fill(openai, range(1, 3))
    openai.fail(429, retry_after="3")
    sleep = RecordingSleep()
    report = await poll_openai_usage(deps_for(bot, openai), sleep=sleep)
    assert report.ok and report.accepted == 4
    assert sleep.waits == [3.0]


async def test_429_forever_is_bounded_and_reported(bot, openai) -> None:  # noqa: ANN001
    openai.fail(429, retry_after="120", times=100)
    sleep = RecordingSleep()
    report = await poll_openai_usage(deps_for(bot, openai), sleep=sleep)
    assert "rate limiting" in report.error
    assert sleep.waits == [60.0] * 4  # Retry-After capped at a minute, four retries


async def test_restart_resumes_from_the_stored_cursor(bot, openai) -> None:  # noqa: ANN001
    fill(openai, range(1, 3))
    deps = deps_for(bot, openai)
    await poll_openai_usage(deps)
    bot.clock.advance(timedelta(hours=2))
    restarted = await build_deps(deps.settings, bot.clock)
    try:
        openai.calls.clear()
        report = await poll_openai_usage(restarted)
        assert report.ok and report.cursor == H + 2 * 3600
        assert ("start_time", str(H)) in openai.calls[0]
    finally:
        await restarted.close()


async def test_not_configured_and_wrong_key(bot, openai) -> None:  # noqa: ANN001
    assert (await poll_openai_usage(bot.deps)).error.startswith("not configured: set TOKENBOT_OPENAI_ADMIN_KEY")
    bad = deps_with(bot.deps, openai_admin_key="sk-wrong", openai_api_url=openai.url)
    assert "HTTP 401" in (await poll_openai_usage(bad)).error
