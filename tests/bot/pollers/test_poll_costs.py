"""The OpenAI and Anthropic cost pollers against fake cost endpoints, into the real bot's database."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import build_deps
from bot.pollers.anthropic_costs import anthropic_cost_micros, poll_anthropic_costs
from bot.pollers.anthropic_costs import SOURCE as ANTHROPIC_SOURCE
from bot.pollers.openai_costs import openai_cost_micros, poll_openai_costs
from bot.pollers.openai_costs import SOURCE as OPENAI_SOURCE
from storage.stores.billing import BillingStore
from storage.stores.ingest_state import CursorStore
from tests.support.fake_cost_api import FakeCostAPI, day_ts
from tests.support.pollers import RecordingSleep, deps_with

NOVEMBER = [f"2026-11-{d:02d}" for d in range(1, 19)]  # NOW is 2026-11-18 15:30 UTC: the 18th is still open


@pytest.fixture
async def openai(bot) -> AsyncIterator[FakeCostAPI]:  # noqa: ANN001
    fake = FakeCostAPI("openai", bot.clock)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def anthropic(bot) -> AsyncIterator[FakeCostAPI]:  # noqa: ANN001
    fake = FakeCostAPI("anthropic", bot.clock)
    await fake.start()
    yield fake
    await fake.stop()


def openai_deps(bot, fake: FakeCostAPI):  # noqa: ANN001, ANN201
    return deps_with(bot.deps, openai_admin_key=fake.admin_key, openai_api_url=fake.url)


def anthropic_deps(bot, fake: FakeCostAPI):  # noqa: ANN001, ANN201
    return deps_with(bot.deps, anthropic_admin_key=fake.admin_key, anthropic_api_url=fake.url)


async def billed(bot, provider: str, first: str = "2026-01-01", last: str = "2026-12-31") -> dict[str, int]:  # noqa: ANN001
    rows = await BillingStore(bot.deps.engine).billed(first, last, provider)
    return {day: m for (_p, day), m in sorted(rows.items())}


def test_amounts_in_each_providers_unit() -> None:
    assert openai_cost_micros({"amount": {"value": 0.06, "currency": "usd"}, "line_item": None}) == 60_000
    assert openai_cost_micros({"amount": {"value": 12.345678, "currency": "usd"}}) == 12_345_678
    # Anthropic: a decimal string in cents; "123.45" USD is $1.2345
    assert anthropic_cost_micros({"amount": "123.45", "currency": "USD"}) == 1_234_500
    assert anthropic_cost_micros({"amount": "0.0001", "currency": "USD"}) == 1
    with pytest.raises(ValueError, match="EUR"):
        openai_cost_micros({"amount": {"value": 1, "currency": "eur"}})
    with pytest.raises(ValueError, match="EUR"):
        anthropic_cost_micros({"amount": "1", "currency": "EUR"})
    with pytest.raises(ValueError):
        anthropic_cost_micros({"amount": "lots", "currency": "USD"})


async def test_openai_pages_through_the_closed_days_of_the_month(bot, openai) -> None:  # noqa: ANN001
    for i, day in enumerate(NOVEMBER, start=1):
        openai.bill(day, f"{i}.25", "0.005")  # two results a day: summed
    openai.page_buckets = 5
    report = await poll_openai_costs(openai_deps(bot, openai))
    assert report.ok, report.error
    assert (report.first_day, report.last_day) == ("2026-11-01", "2026-11-17")
    assert report.new_days == 17 and report.pages == 4  # 17 closed days, 5 a page
    assert "2026-11-01..2026-11-17: 17 new, 0 revised, 0 unchanged billed days, 4 pages" in report.summary()
    got = await billed(bot, "openai")
    assert list(got) == NOVEMBER[:17]  # the 18th is not over yet: not stored
    assert got["2026-11-01"] == 1_255_000 and got["2026-11-17"] == 17_255_000
    first = openai.calls[0]
    assert ("bucket_width", "1d") in first and ("start_time", str(day_ts("2026-11-01"))) in first
    assert ("end_time", str(day_ts("2026-11-18"))) in first
    assert report.cursor == day_ts("2026-11-18")


async def test_a_revised_figure_replaces_the_old_one(bot, openai) -> None:  # noqa: ANN001
    for day in NOVEMBER:
        openai.bill(day, "10")
    deps = openai_deps(bot, openai)
    await poll_openai_costs(deps)
    assert (await billed(bot, "openai"))["2026-11-10"] == 10_000_000
    openai.bill("2026-11-10", "12.5")  # the provider revised the 10th
    openai.bill("2026-11-18", "99")  # and the 18th has ended by tomorrow
    bot.clock.advance(timedelta(days=1))
    report = await poll_openai_costs(deps)
    assert report.ok and (report.new_days, report.revised_days, report.unchanged_days) == (1, 1, 16)
    got = await billed(bot, "openai")
    assert got["2026-11-10"] == 12_500_000 and got["2026-11-18"] == 99_000_000 and len(got) == 18


async def test_500_mid_paging_keeps_what_was_read_and_the_next_poll_completes(bot, openai) -> None:  # noqa: ANN001
    for day in NOVEMBER:
        openai.bill(day, "3")
    openai.page_buckets = 5
    openai.fail(500, page=3)
    deps = openai_deps(bot, openai)
    first = await poll_openai_costs(deps)
    assert not first.ok and "HTTP 500" in first.error and "the days read before are kept" in first.error
    assert first.new_days == 10
    assert list(await billed(bot, "openai")) == NOVEMBER[:10]
    second = await poll_openai_costs(deps)
    assert second.ok, second.error
    assert (second.new_days, second.unchanged_days) == (7, 10)
    assert list(await billed(bot, "openai")) == NOVEMBER[:17]


async def test_anthropic_reads_cents_and_pages(bot, anthropic) -> None:  # noqa: ANN001
    for day in NOVEMBER:
        anthropic.bill(day, "12.345678", "1")  # $13.345678 a day
    anthropic.page_buckets = 7
    report = await poll_anthropic_costs(anthropic_deps(bot, anthropic))
    assert report.ok, report.error
    assert report.new_days == 17 and report.pages == 3
    got = await billed(bot, "anthropic")
    assert list(got) == NOVEMBER[:17] and set(got.values()) == {13_345_678}
    first = anthropic.calls[0]
    assert ("starting_at", "2026-11-01T00:00:00Z") in first and ("ending_at", "2026-11-18T00:00:00Z") in first
    assert ("bucket_width", "1d") in first and ("limit", "31") in first


async def test_early_in_a_month_the_end_of_last_month_is_read_again(bot, anthropic) -> None:  # noqa: ANN001
    anthropic.bill("2026-11-28", "5")
    anthropic.bill("2026-12-01", "7")
    bot.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    report = await poll_anthropic_costs(anthropic_deps(bot, anthropic))
    assert report.ok and (report.first_day, report.last_day) == ("2026-11-25", "2026-12-01")
    got = await billed(bot, "anthropic")
    assert got["2026-11-28"] == 5_000_000 and got["2026-12-01"] == 7_000_000 and got["2026-11-25"] == 0


async def test_after_an_outage_it_resumes_from_the_cursor(bot, openai) -> None:  # noqa: ANN001
    openai.bill("2026-10-03", "4")
    await CursorStore(bot.deps.engine).set(OPENAI_SOURCE, day_ts("2026-10-02"), 0)
    report = await poll_openai_costs(openai_deps(bot, openai))
    assert report.ok and report.first_day == "2026-10-02" and report.new_days == 47
    assert (await billed(bot, "openai"))["2026-10-03"] == 4_000_000
    # restarted: the stored cursor is used; nothing new is lost or counted twice (figures are replaced, not added)
    restarted = await build_deps(openai_deps(bot, openai).settings, bot.clock)
    try:
        again = await poll_openai_costs(restarted)
        assert again.ok and again.first_day == "2026-11-01" and again.new_days == 0
        assert again.cursor == await CursorStore(bot.deps.engine).get(OPENAI_SOURCE) == day_ts("2026-11-18")
    finally:
        await restarted.close()


async def test_429_backs_off_then_succeeds(bot, anthropic) -> None:  # noqa: ANN001
    anthropic.bill("2026-11-17", "1")
    anthropic.fail(429, retry_after="2")
    sleep = RecordingSleep()
    report = await poll_anthropic_costs(anthropic_deps(bot, anthropic), sleep=sleep)
    assert report.ok and sleep.waits == [2.0]
    assert await CursorStore(bot.deps.engine).get(ANTHROPIC_SOURCE) == day_ts("2026-11-18")


async def test_not_configured_and_wrong_key(bot, openai, anthropic) -> None:  # noqa: ANN001
    assert (await poll_openai_costs(bot.deps)).error.startswith("not configured: set TOKENBOT_OPENAI_ADMIN_KEY")
    assert (await poll_anthropic_costs(bot.deps)).error.startswith("not configured: set TOKENBOT_ANTHROPIC_ADMIN_KEY")
    bad = deps_with(bot.deps, anthropic_admin_key="sk-ant-admin-wrong", anthropic_api_url=anthropic.url)
    assert "HTTP 401" in (await poll_anthropic_costs(bad)).error
    assert await billed(bot, "anthropic") == {}


def test_cli_poll_costs_without_a_key_says_what_to_set(tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    env["TOKENBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    for source, variable in (("openai-costs", "TOKENBOT_OPENAI_ADMIN_KEY"), ("anthropic-costs", "TOKENBOT_ANTHROPIC_ADMIN_KEY")):
        result = subprocess.run([sys.executable, "-m", "bot.cli", "poll", source], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and f"ERROR not configured: set {variable}" in result.stdout, result
