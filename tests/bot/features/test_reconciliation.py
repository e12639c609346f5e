"""Reconciliation: events ingested through the bot's HTTP endpoint against bills served by fake cost endpoints."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from bot.pollers.anthropic_costs import SOURCE as ANTHROPIC_SOURCE
from bot.pollers.anthropic_costs import poll_anthropic_costs
from bot.pollers.openai_costs import SOURCE as OPENAI_SOURCE
from bot.pollers.openai_costs import poll_openai_costs
from bot.features.reconciliation import load_reconciliation
from bot.domain.reconcile import (
    Threshold,
    bill_provider,
    closed_days,
    reconcile,
    reconcile_plain,
    reconcile_summary_line,
    span_text,
)
from storage.stores.billing import EstimatedDay
from storage.stores.ingest_state import CursorStore
from tests.support.fake_cost_api import FakeCostAPI, day_ts
from tests.support.pollers import deps_with

OCTOBER = [date(2026, 10, d) for d in range(1, 32)]


def test_provider_names_map_to_the_bill_they_belong_to() -> None:
    assert [bill_provider(p) for p in ("openai", "OpenAI", "text-completion-openai", "anthropic", "anthropic_text",
                                       None, "", "azure", "bedrock")] == \
        ["openai", "openai", "openai", "anthropic", "anthropic", "unknown", "unknown", "azure", "bedrock"]


def test_threshold_is_the_larger_of_the_percentage_and_the_minimum() -> None:
    t = Threshold(pct=5, min_micros=1_000_000)
    assert not t.exceeded(105_000_000, 100_000_000)  # exactly 5%: not over
    assert t.exceeded(105_000_001, 100_000_000)
    assert not t.exceeded(900_000, 0) and t.exceeded(1_000_001, 0)  # $0 billed: the $1 minimum applies
    assert not t.exceeded(1_900_000, 1_000_000)  # +90%, but only $0.90
    assert t.exceeded(8_000_000, 10_000_000)  # -20%, $2


def test_days_and_spans() -> None:
    assert closed_days(date(2026, 11, 1), date(2026, 11, 18)) == (date(2026, 11, 1), date(2026, 11, 17))
    assert closed_days(date(2026, 10, 1), date(2026, 11, 18)) == (date(2026, 10, 1), date(2026, 10, 31))
    assert closed_days(date(2026, 11, 1), date(2026, 11, 1)) is None
    assert span_text(date(2026, 11, 1), date(2026, 11, 17)) == "Nov 1–17"
    assert span_text(date(2026, 11, 1), date(2026, 11, 1)) == "Nov 1"


def test_summary_line() -> None:
    first, last = date(2026, 11, 1), date(2026, 11, 17)
    est = [EstimatedDay("openai", i, 9_680_000, 3, 0) for i in range(17)]  # -3.2% a day
    est += [EstimatedDay("anthropic", i, 10_000_000, 1, 0) for i in range(17)]
    est += [EstimatedDay(None, 0, 2_500_000, 1, 0)]
    billed = {("openai", f"2026-11-{d:02d}"): 10_000_000 for d in range(1, 18)}
    billed |= {("anthropic", f"2026-11-{d:02d}"): 10_000_000 for d in range(1, 18)}
    billed[("anthropic", "2026-11-03")] = 5_000_000
    billed[("anthropic", "2026-11-04")] = 7_000_000
    r = reconcile(first, last, est, billed, Threshold())
    assert reconcile_summary_line(r) == ("Gateway vs bill, Nov 1–17: OpenAI −3.2% (ok), Anthropic +4.9% ⚠ 2 days "
                                         "over 5%; $2.50 estimated on events without a provider")
    assert reconcile_summary_line(reconcile(first, last, [], {}, Threshold())) == \
        "Gateway vs bill, Nov 1–17: no provider bill read yet"


# ---- against the running bot ----

# October, per provider and day: what the gateway estimated (events' cost_usd) and what the provider billed.
# Default: OpenAI $20.00 estimated (two events of $10, one "openai", one "text-completion-openai") vs $20.00 billed;
# Anthropic $30.00 vs $30.00. Exceptions:
OPENAI_BILL = {5: "18", 6: "19.5", 7: "21.5", 8: "19.05", 9: "20"}
#   5: +$2.00 +11.1% flagged; 6: +$0.50 +2.6% ok; 7: -$1.50 -7.0% flagged; 8: +$0.95 +5.0% ok (under $1)
ANTHROPIC_BILL = {12: "25", 20: "0", 21: "29.2"}
#   12: +$5.00 +20% flagged; 20: estimated $0.80, billed $0 -> +$0.80 ok (under $1); 21: +$0.80 +2.7% ok
FLAGGED = {("openai", "2026-10-05"), ("openai", "2026-10-07"), ("anthropic", "2026-10-12")}


def october_events() -> list[dict]:
    events: list[dict] = []

    def add(ts: int, provider: str | None, cost: float, model: str = "gpt-4o") -> None:
        e = {"id": f"ev{len(events)}", "timestamp": ts, "user": "ada", "model": model, "input_tokens": 100,
             "output_tokens": 10, "cost_usd": cost}
        if provider is not None:
            e["provider"] = provider
        events.append(e)

    for d in OCTOBER:
        t = day_ts(d)
        if d.day in (9, 10):  # days are UTC: $10 at 23:59:59 on the 9th, $10 at 00:00:00 on the 10th
            add(t + 3600, "openai", 10.0)
            add(t + 86_399 if d.day == 9 else t, "text-completion-openai", 10.0)
        else:
            add(t + 3600, "openai", 10.0)
            add(t + 7200, "text-completion-openai", 10.0)
        if d.day == 20:
            add(t + 3600, "anthropic", 0.8, "claude-sonnet-4-5")
        else:
            add(t + 3600, "anthropic", 12.5, "claude-sonnet-4-5")
            add(t + 50_000, "Anthropic", 17.5, "claude-sonnet-4-5")
    add(day_ts(OCTOBER[2]) + 100, "azure", 5.0)
    add(day_ts(OCTOBER[3]) + 100, None, 2.0)
    return events


def straight_sums(events: list[dict]) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        day = datetime.fromtimestamp(e["timestamp"], UTC).date().isoformat()
        sums[(bill_provider(e.get("provider")), day)] += round(e["cost_usd"] * 1_000_000)
    return sums


@pytest.fixture
async def october(bot) -> AsyncIterator[tuple[list[dict], dict[tuple[str, str], int]]]:  # noqa: ANN001
    """October's events ingested over HTTP and October's bills read from the fake cost endpoints."""
    events = october_events()
    status, body = await bot.ingest(events)
    assert status == 200 and body["accepted"] == len(events), body
    fakes = [FakeCostAPI("openai", bot.clock), FakeCostAPI("anthropic", bot.clock)]
    for f in fakes:
        await f.start()
    openai, anthropic = fakes
    bills: dict[tuple[str, str], int] = {}
    for d in OCTOBER:
        o, a = OPENAI_BILL.get(d.day, "20"), ANTHROPIC_BILL.get(d.day, "30")
        openai.bill(d, o)
        anthropic.bill(d, a)
        bills[("openai", d.isoformat())] = round(float(o) * 1_000_000)
        bills[("anthropic", d.isoformat())] = round(float(a) * 1_000_000)
    cursors = CursorStore(bot.deps.engine)
    await cursors.set(OPENAI_SOURCE, day_ts(OCTOBER[0]), 0)  # as if resuming from October 1st
    await cursors.set(ANTHROPIC_SOURCE, day_ts(OCTOBER[0]), 0)
    deps = deps_with(bot.deps, openai_admin_key=openai.admin_key, openai_api_url=openai.url,
                     anthropic_admin_key=anthropic.admin_key, anthropic_api_url=anthropic.url)
    assert (await poll_openai_costs(deps)).ok
    assert (await poll_anthropic_costs(deps)).ok
    for f in fakes:
        await f.stop()
    yield events, bills


async def test_reconcile_matches_straight_sums_and_flags_exactly_the_days_over(bot, october) -> None:  # noqa: ANN001
    events, bills = october
    sums = straight_sums(events)
    r = await load_reconciliation(bot.deps, date(2026, 10, 1))
    assert (r.first_day, r.last_day) == (date(2026, 10, 1), date(2026, 10, 31))
    assert [p.provider for p in r.providers] == ["openai", "anthropic"]
    for p in r.providers:
        assert len(p.days) == 31 and len(p.compared) == 31
        for line in p.days:
            key = (p.provider, line.day.isoformat())
            assert line.estimated_micros == sums.get(key, 0), key
            assert line.billed_micros == bills[key], key
            assert line.diff_micros == sums.get(key, 0) - bills[key]
        assert p.estimated_micros == sum(v for (q, _d), v in sums.items() if q == p.provider)
        assert p.billed_micros == sum(v for (q, _d), v in bills.items() if q == p.provider)
    assert {(p.provider, d.day.isoformat()) for p in r.providers for d in p.flagged} == FLAGGED
    assert {(u.provider, u.estimated_micros, u.events) for u in r.unreconciled} == \
        {("unknown", 2_000_000, 1), ("azure", 5_000_000, 1)}
    openai = r.providers[0]
    assert next(d for d in openai.days if d.day.day == 9).estimated_micros == 20_000_000  # 23:59:59 is the 9th
    assert next(d for d in openai.days if d.day.day == 10).estimated_micros == 20_000_000
    assert reconcile_summary_line(r) == ("Gateway vs bill, Oct 1–31: OpenAI +0.3% ⚠ 2 days over 5%, "
                                         "Anthropic +0.7% ⚠ 1 day over 5%; $2.00 estimated on events without a "
                                         "provider")
    only = await load_reconciliation(bot.deps, date(2026, 10, 1), "anthropic")
    assert [p.provider for p in only.providers] == ["anthropic"] and only.unreconciled == ()


async def test_current_month_to_date_and_thresholds_from_settings(bot, october) -> None:  # noqa: ANN001
    r = await load_reconciliation(bot.deps)  # NOW is Nov 18: Nov 1-17, nothing ingested, bills of $0 read
    assert (r.first_day, r.last_day) == (date(2026, 11, 1), date(2026, 11, 17))
    assert all(d.billed_micros == 0 and not d.flagged for p in r.providers for d in p.days)
    assert reconcile_summary_line(r).startswith("Gateway vs bill, Nov 1–17: OpenAI +$0.00 on a $0 bill (ok)")
    strict = deps_with(bot.deps, reconcile_threshold_pct=0.1, reconcile_min_usd=0.25)
    r = await load_reconciliation(strict, date(2026, 10, 1))
    flagged = {(p.provider, d.day.day) for p in r.providers for d in p.flagged}
    assert flagged == {("openai", 5), ("openai", 6), ("openai", 7), ("openai", 8), ("anthropic", 12),
                       ("anthropic", 20), ("anthropic", 21)}


def test_render_lists_totals_and_flagged_days() -> None:
    est = [EstimatedDay("openai", 0, 12_000_000, 2, 1), EstimatedDay("openai", 1, 5_000_000, 1, 0),
           EstimatedDay("bedrock", 0, 3_000_000, 1, 0)]
    billed = {("openai", "2026-10-01"): 10_000_000}
    text = reconcile_plain(reconcile(date(2026, 10, 1), date(2026, 10, 2), est, billed, Threshold()))
    lines = text.splitlines()
    assert lines[0] == "Gateway estimate vs provider bill, 2026-10-01..2026-10-02 (UTC days)"
    assert any(line.split() == ["OpenAI", "1", "$12.00", "$10.00", "+$2.00", "+20.0%", "1", "day", "⚠", "total"] for line in lines)
    assert any(line.split() == ["Anthropic", "0", "$0.00", "no", "bill", "read"] for line in lines)
    assert "OpenAI: no bill read for 1 day(s) (2026-10-02); estimated $5.00 on them, not compared" in lines
    assert "OpenAI: 1 event(s) without a known price are not in the estimate" in lines
    assert "not reconciled: bedrock (no bill read for this provider): $3.00 estimated, 1 event(s)" in lines
    flagged = lines[lines.index("Flagged days:") + 2].split()
    assert flagged == ["OpenAI", "2026-10-01", "$12.00", "$10.00", "+$2.00", "+20.0%", "⚠"]


async def test_cli_reconcile_prints_the_table(bot, october, database_url, tmp_path) -> None:  # noqa: ANN001
    events, bills = october
    sums = straight_sums(events)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    env["TOKENBOT_DATABASE_URL"] = database_url
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", "reconcile", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    result = run("--month", "2026-10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Gateway estimate vs provider bill, 2026-10-01..2026-10-31 (UTC days)"

    def usd(m: int) -> str:
        return f"${m / 1e6:,.2f}"

    for provider, name, flagged in (("openai", "OpenAI", "2 days"), ("anthropic", "Anthropic", "1 day")):
        est = sum(v for (q, _d), v in sums.items() if q == provider)
        bill = sum(v for (q, _d), v in bills.items() if q == provider)
        diff = est - bill
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[:5] == [name, "31", usd(est), usd(bill), ("+" if diff >= 0 else "-") + usd(abs(diff))]
        assert row.endswith(flagged)
    flagged_rows = [line.split()[:2] for line in lines if line.rstrip().endswith("⚠") and "-10-" in line]
    assert flagged_rows == [["OpenAI", "2026-10-05"], ["OpenAI", "2026-10-07"], ["Anthropic", "2026-10-12"]]
    assert "not reconciled: unknown (events without a provider): $2.00 estimated, 1 event(s)" in lines
    assert lines[-1].startswith("Gateway vs bill, Oct 1–31: OpenAI +0.3% ⚠ 2 days over 5%")
    only = run("--month", "2026-10", "--provider", "anthropic")
    assert only.returncode == 0 and "OpenAI" not in only.stdout and "Anthropic" in only.stdout
    bad = run("--month", "October")
    assert bad.returncode == 2 and "not a month like 2026-11" in bad.stderr
