"""Provider usage priced as the providers bill it: a month of OpenAI and Anthropic usage with every billing dimension
(tests/support/provider_month.py), served by fakes in the documented shapes (OpenAI API reference "Usage >
Completions" and "Usage > Costs"; Anthropic Admin API reference "Usage and Cost > Get Messages Usage Report" and
"Get Cost Report"), read by the real pollers into the running bot on a fresh install, then reconciled against bills
computed line by line from the providers' published prices."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.domain.org import parse_org
from bot.domain.reconcile_breakdown import breakdown, breakdown_plain, by_dimension
from bot.features.me import me_report
from bot.features.reconciliation import load_breakdown, load_reconciliation
from bot.pollers.anthropic_costs import poll_anthropic_costs
from bot.pollers.anthropic_usage import SOURCE as ANTHROPIC_SOURCE
from bot.pollers.anthropic_usage import poll_anthropic_usage
from bot.pollers.openai_costs import poll_openai_costs
from bot.pollers.openai_usage import SOURCE as OPENAI_SOURCE
from bot.pollers.openai_usage import poll_openai_usage
from storage.stores.ingest_state import CursorStore
from storage.tables.core import usage_events, usage_hourly
from tests.conftest import NOW, ORG_YAML
from tests.support.provider_month import Month, ProviderFakes, build_month, load, start_provider
from tests.support.pollers import deps_with

FIRST = date(2026, 11, 1)
CLOSED_DAYS = [FIRST + timedelta(days=i) for i in range(17)]  # Nov 1..17: the days that have ended at NOW


@pytest.fixture
async def providers(bot) -> AsyncIterator[tuple[Month, ProviderFakes, ProviderFakes]]:  # noqa: ANN001
    month = build_month(FIRST, NOW)
    openai, anthropic = await start_provider("openai", bot.clock), await start_provider("anthropic", bot.clock)
    load(month, openai, anthropic)
    yield month, openai, anthropic
    await openai.stop()
    await anthropic.stop()


def deps_for(bot, openai: ProviderFakes, anthropic: ProviderFakes):  # noqa: ANN001, ANN201
    return deps_with(bot.deps, openai_admin_key=openai.usage.admin_key, openai_api_url=openai.url,
                     anthropic_admin_key=anthropic.usage.admin_key, anthropic_api_url=anthropic.url)


async def poll_all(deps) -> None:  # noqa: ANN001
    for poll in (poll_openai_usage, poll_anthropic_usage, poll_openai_costs, poll_anthropic_costs):
        report = await poll(deps)
        assert report.ok, report.error


async def test_fresh_install_reads_the_whole_month_and_the_estimate_is_within_1pct_of_the_bill(
        bot, providers) -> None:  # noqa: ANN001
    month, openai, anthropic = providers
    openai.usage.page_buckets = anthropic.usage.page_buckets = 50  # several pages
    deps = deps_for(bot, openai, anthropic)
    await poll_all(deps)
    # every day of the month was read, from Nov 1 00:00 (not the last 24 hours)
    assert ("start_time", str(int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()))) in openai.usage.calls[0]
    assert ("starting_at", "2026-11-01T00:00:00Z") in anthropic.usage.calls[0]
    assert len(openai.usage.calls) > 3 and len(anthropic.usage.calls) > 3
    async with bot.deps.engine.connect() as conn:
        days = {(p, datetime.fromtimestamp(ts, UTC).date()) for p, ts in
                (await conn.execute(select(usage_events.c.provider, usage_events.c.ts))).all()}
    for day in CLOSED_DAYS:
        assert ("openai", day) in days and ("anthropic", day) in days, day

    r = await load_reconciliation(deps)
    assert r is not None and (r.first_day, r.last_day) == (FIRST, date(2026, 11, 17))
    for p in r.providers:
        assert [d.day for d in p.compared] == CLOSED_DAYS
        for d in p.compared:
            billed = month.total(p.provider, d.day)
            assert abs(d.billed_micros - billed * 1_000_000) <= 1  # the bill as served, stored exactly
            assert abs(d.diff_pct) < 1.0, (p.provider, d.day, d.estimated_micros, d.billed_micros)
        assert not p.flagged and not p.total_flagged
        assert p.unpriced == 0


async def test_breakdown_shows_every_dimension_and_each_within_1pct(bot, providers) -> None:  # noqa: ANN001
    _month, openai, anthropic = providers
    deps = deps_for(bot, openai, anthropic)
    await poll_all(deps)
    first, last, lines = await load_breakdown(deps)
    dims = {(g.provider, g.dimension): g for g in by_dimension(lines)}
    assert set(dims) == {("openai", d) for d in ("text", "cache", "audio", "batch")} | {
        ("anthropic", d) for d in ("text", "cache", "tools", "batch")}
    for g in dims.values():
        assert g.billed_micros and abs(g.diff_pct) < 1.0, g
    for g in lines:  # per model and dimension too
        assert g.billed_micros is not None and abs(g.diff_micros) <= max(g.billed_micros // 100, 10), g
    text = breakdown_plain(first, last, lines)
    assert "Per dimension:" in text and "claude-sonnet-4-20250514" in text and "audio" in text


def test_a_stale_price_shows_as_the_gap_of_its_model_and_dimension() -> None:
    estimated = [("anthropic", "claude-sonnet-4-20250514", {"text": 10_000_000, "cache": 1_000_000}, 11_000_000),
                 ("openai", "gpt-4o", None, 5_000_000)]
    billed = [("anthropic", "claude-sonnet-4-20250514", "text", 10_000_000),
              ("anthropic", "claude-sonnet-4-20250514", "cache", 2_000_000), ("openai", "gpt-4o", "text", 5_000_000)]
    lines = breakdown(estimated, billed)
    worst = [g for g in lines if g.provider == "anthropic"][0]  # per provider, the largest gap first
    assert (worst.model, worst.dimension, worst.diff_micros, worst.diff_pct) == \
        ("claude-sonnet-4-20250514", "cache", -1_000_000, -50.0)
    assert [(g.provider, g.dimension, g.diff_micros) for g in by_dimension(lines)][:2] == \
        [("openai", "text", 0), ("anthropic", "cache", -1_000_000)]


async def test_reading_the_month_again_counts_nothing_twice(bot, providers) -> None:  # noqa: ANN001
    _month, openai, anthropic = providers
    deps = deps_for(bot, openai, anthropic)
    await poll_all(deps)
    async with bot.deps.engine.connect() as conn:
        before = (await conn.execute(select(func.count(), func.sum(usage_events.c.cost_micros))
                                     .select_from(usage_events))).one()
    since = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    for poll in (poll_openai_usage, poll_anthropic_usage):
        again = await poll(deps, since=since)
        assert again.ok and again.accepted == 0 and again.duplicates > 0
    async with bot.deps.engine.connect() as conn:
        after = (await conn.execute(select(func.count(), func.sum(usage_events.c.cost_micros))
                                    .select_from(usage_events))).one()
    assert after == before
    # the cursor did not move back: the next scheduled poll goes on from where it was
    assert await CursorStore(bot.deps.engine).get(OPENAI_SOURCE) == int(NOW.timestamp()) // 3600 * 3600


async def test_a_backfill_does_not_reread_hours_read_before_the_grouping_by_dimension(bot, providers) -> None:  # noqa: ANN001
    """An install that polled before usage was grouped by billing dimension (its cursor is set, the marker is not):
    those hours hold one event per model with batch and priority folded in, so a backfill starts where the grouped
    reads began and says so, instead of adding the batch and priority groups beside them."""
    _month, openai, anthropic = providers
    upgraded_at = int(datetime(2026, 11, 10, tzinfo=UTC).timestamp())
    await CursorStore(bot.deps.engine).set(OPENAI_SOURCE, upgraded_at, upgraded_at)
    report = await poll_openai_usage(deps_for(bot, openai, anthropic),
                                     since=int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()))
    assert report.ok and report.first == upgraded_at
    assert "started at 2026-11-10T00:00:00Z" in report.summary() and "count some twice" in report.summary()
    async with bot.deps.engine.connect() as conn:
        earliest = (await conn.execute(select(func.min(usage_events.c.ts)))).scalar_one()
    assert earliest >= upgraded_at


async def test_request_counts_are_the_providers_own(bot, providers) -> None:  # noqa: ANN001
    month, openai, anthropic = providers
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("gateway_ids: [ada, sk-ada]", "gateway_ids: [ada, key_ada1]")),
                            int(NOW.timestamp()))
    deps = deps_for(bot, openai, anthropic)
    await poll_openai_usage(deps)
    # what `tokenbot usage show --user ada` and /tokens me show: the provider's num_model_requests of her key
    ada = await bot.deps.org.person_by_ref("ada")
    shown = await me_report(bot.deps.ledger, ada, await bot.deps.org.team(ada.team_id), NOW)
    assert shown.usage.month.requests == sum(r["num_model_requests"] for results in month.openai_usage.values()
                                       for r in results if r["api_key_id"] == "key_ada1")
    reported = sum(r["num_model_requests"] for results in month.openai_usage.values() for r in results)
    async with bot.deps.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        requests = (await conn.execute(select(func.sum(usage_hourly.c.requests)))).scalar_one()
    assert requests == reported and reported > 10 * events  # not one "request" per hour-by-group event


async def test_a_bucket_without_results_fails_loudly_and_is_read_again(bot, providers, caplog) -> None:  # noqa: ANN001
    _month, openai, anthropic = providers
    deps = deps_for(bot, openai, anthropic)
    h = int(datetime(2026, 11, 5, 9, tzinfo=UTC).timestamp())
    openai.usage.raw_buckets[h] = {"object": "bucket", "start_time": h, "end_time": h + 3600}  # no `results`
    openai.usage.page_buckets = 24
    report = await poll_openai_usage(deps)
    assert not report.ok and "without a `results` list" in report.error
    assert "usage poll failed" in caplog.text  # logged
    stored = await CursorStore(bot.deps.engine).get(OPENAI_SOURCE)
    assert stored is not None and stored <= h and report.cursor == stored  # the next poll reads that bucket again
    del openai.usage.raw_buckets[h]
    assert (await poll_openai_usage(deps)).ok

    day = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp())
    anthropic.costs.raw_buckets[day] = {"starting_at": "2026-11-03T00:00:00Z", "ending_at": "2026-11-04T00:00:00Z"}
    report = await poll_anthropic_costs(deps)
    assert not report.ok and "without a `results` list" in report.error
    r = await load_reconciliation(deps, provider="anthropic")
    assert r is not None and all(d.billed_micros != 0 for d in r.providers[0].compared)  # never a silent $0


async def test_unknown_result_shape_is_an_error_not_a_zero(bot, providers) -> None:  # noqa: ANN001
    _month, openai, anthropic = providers
    deps = deps_for(bot, openai, anthropic)
    h = int(datetime(2026, 11, 2, 3, tzinfo=UTC).timestamp())
    anthropic.usage.raw_buckets[h] = {"starting_at": "2026-11-02T03:00:00Z", "ending_at": "2026-11-02T04:00:00Z",
                                      "results": [{"model": "claude-sonnet-4-20250514", "tokens": 5}]}
    report = await poll_anthropic_usage(deps)
    assert not report.ok and "unexpected shape" in report.error
    assert await CursorStore(bot.deps.engine).get(ANTHROPIC_SOURCE) is None  # nothing marked read: retried


async def test_cli_backfill_and_breakdown(tmp_path: Path, bot, providers) -> None:  # noqa: ANN001
    """`tokenbot poll openai --since`, then `tokenbot reconcile --breakdown`, as an admin runs them."""
    _month, openai, anthropic = providers
    # The CLI runs in its own process with the real clock: serve a month that has ended by now.
    env = {**os.environ, "TOKENBOT_DATABASE_URL": bot.deps.settings.database_url,
           "TOKENBOT_OPENAI_ADMIN_KEY": openai.usage.admin_key, "TOKENBOT_OPENAI_API_URL": openai.url,
           "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    def run(*args: str) -> subprocess.CompletedProcess[str]:  # in a thread: the fakes answer on this test's loop
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    bad = await asyncio.to_thread(run, "poll", "openai", "--since", "2026-13-01")
    assert bad.returncode == 2 and "is not a day like 2026-11-01" in bad.stderr and "Traceback" not in bad.stderr
    poll = await asyncio.to_thread(run, "poll", "openai", "--since", "2026-11-01")
    assert poll.returncode == 0, poll.stderr
    events = sum(len(r) for r in _month.openai_usage.values())
    assert f"{events:,} new events, 0 already known" in poll.stdout and "read 2026-11-01T00:00:00Z .." in poll.stdout
    out = await asyncio.to_thread(run, "reconcile", "--month", "2026-11", "--breakdown")
    assert out.returncode == 0, out.stderr
    assert "Per dimension:" in out.stdout and "gpt-4o-audio-preview-2024-12-17" in out.stdout
