"""The LiteLLM spend-logs gap filler against a fake LiteLLM proxy, with the real bot taking the webhook over HTTP."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_deps
from bot.pollers.litellm_spend import poll_litellm_spend
from storage.tables.core import usage_events, usage_hourly
from tests.conftest import INGEST_TOKEN, NOW
from tests.support.fake_litellm import FakeLiteLLM
from tests.support.litellm_payloads import spend_log_row, standard_payload
from tests.support.pollers import RecordingSleep, deps_with

N = 50
START = NOW.timestamp() - 3 * 3600  # 12:30 .. 14:50 UTC, well before now - settle


@pytest.fixture
async def litellm() -> AsyncIterator[FakeLiteLLM]:
    fake = FakeLiteLLM()
    await fake.start()
    yield fake
    await fake.stop()


def requests() -> list[dict]:
    out = [standard_payload(i, START + i * 170.5, cost=0.001 * (i + 1)) for i in range(N - 2)]
    return out + [standard_payload(900 + i, START + 100 + i, status="failure") for i in range(2)]


async def deliver_by_webhook(bot, payloads: list[dict]) -> None:  # noqa: ANN001
    async with bot.http.post(f"{bot.url}/v1/ingest/litellm", data=json.dumps(payloads),
                             headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        assert resp.status == 200, await resp.text()


async def totals(bot) -> tuple[int, int]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        cost = (await conn.execute(select(func.coalesce(func.sum(usage_hourly.c.cost_micros), 0)))).scalar_one()
    return count, cost


EXPECTED_COST = sum(round(0.001 * (i + 1) * 1_000_000) for i in range(N - 2))


async def test_poll_fills_what_the_webhook_missed_and_a_second_poll_adds_nothing(bot, litellm) -> None:  # noqa: ANN001
    payloads = requests()
    litellm.rows = [spend_log_row(p) for p in payloads]
    delivered = [p for i, p in enumerate(payloads) if i % 5 != 0]  # the webhook dropped every fifth: 20%
    await deliver_by_webhook(bot, delivered)
    deps = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key=litellm.admin_key)

    report = await poll_litellm_spend(deps, page_size=7)
    assert report.ok, report.error
    assert report.accepted == N // 5 == 10  # the events the webhook missed
    assert report.duplicates == N - 10
    assert report.cursor == int(NOW.timestamp()) - 600
    assert await totals(bot) == (N, EXPECTED_COST)
    assert await bot.deps.ledger.failed_requests(0, 10**9) == 2

    again = await poll_litellm_spend(deps, page_size=7)
    assert again.ok and again.accepted == 0 and again.pages == 0
    bot.clock.advance(timedelta(hours=2))  # the windows read later are new, and empty
    later = await poll_litellm_spend(deps, page_size=7)
    assert later.ok and later.accepted == 0
    assert await totals(bot) == (N, EXPECTED_COST)


async def test_500_mid_pagination_keeps_what_was_read_and_resumes_without_double_counting(bot, litellm) -> None:  # noqa: ANN001
    litellm.rows = [spend_log_row(p) for p in requests()]
    litellm.fail(500, page=3)
    deps = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key=litellm.admin_key)

    first = await poll_litellm_spend(deps, page_size=5)
    assert not first.ok
    assert "HTTP 500" in first.error and "page 3" in first.error and "read again" in first.error
    assert first.accepted == 10  # pages 1 and 2 of the first window with rows were kept
    assert (await totals(bot))[0] == 10

    second = await poll_litellm_spend(deps, page_size=5)
    assert second.ok, second.error
    assert second.accepted == N - 10 and second.duplicates == 10
    assert await totals(bot) == (N, EXPECTED_COST)


async def test_restart_resumes_from_the_stored_cursor(bot, litellm) -> None:  # noqa: ANN001
    litellm.rows = [spend_log_row(p) for p in requests()]
    deps = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key=litellm.admin_key)
    first = await poll_litellm_spend(deps)
    assert first.ok and first.accepted == N

    restarted = await build_deps(deps.settings, bot.clock)  # a new process: new engine, same database
    try:
        bot.clock.advance(timedelta(minutes=30))
        litellm.calls.clear()
        second = await poll_litellm_spend(restarted)
        assert second.ok and second.accepted == 0
        assert litellm.calls[0][1]["start_date"] == "2026-11-18 15:20:00"  # where the first poll stopped
        assert litellm.calls[-1][1]["end_date"] == "2026-11-18 15:50:00"
    finally:
        await restarted.close()


async def test_429_is_retried_after_the_wait_it_asks_for(bot, litellm) -> None:  # noqa: ANN001
    litellm.rows = [spend_log_row(p) for p in requests()]
    litellm.fail(429, retry_after="7", times=2)
    sleep = RecordingSleep()
    deps = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key=litellm.admin_key)
    report = await poll_litellm_spend(deps, sleep=sleep)
    assert report.ok and report.accepted == N
    assert sleep.waits == [7.0, 7.0]


async def test_older_proxy_without_v2_is_read_through_spend_logs_ui(bot, litellm) -> None:  # noqa: ANN001
    litellm.rows = [spend_log_row(p) for p in requests()]
    litellm.v2_enabled = False
    deps = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key=litellm.admin_key)
    report = await poll_litellm_spend(deps)
    assert report.ok and report.accepted == N
    assert {path for path, _ in litellm.calls} == {"/spend/logs/ui"}


async def test_wrong_key_and_missing_settings_are_reported_clearly(bot, litellm) -> None:  # noqa: ANN001
    report = await poll_litellm_spend(bot.deps)
    assert report.error.startswith("not configured: set TOKENBOT_LITELLM_URL")
    bad = deps_with(bot.deps, litellm_url=litellm.url, litellm_admin_key="sk-wrong")
    report = await poll_litellm_spend(bad)
    assert "HTTP 401" in report.error and report.accepted == 0


async def test_cli_poll_litellm_prints_what_the_webhook_missed(tmp_path, litellm) -> None:  # noqa: ANN001
    import asyncio
    import os
    import sys
    import time
    from pathlib import Path

    start = time.time() - 2 * 3600
    litellm.rows = [spend_log_row(standard_payload(i, start + i)) for i in range(12)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    env |= {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "TOKENBOT_LITELLM_URL": litellm.url,
            "TOKENBOT_LITELLM_ADMIN_KEY": litellm.admin_key}
    root = Path(__file__).resolve().parents[3]
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "poll", "litellm", cwd=root, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "the webhook had missed 12 of 12 requests read" in out.decode()
