"""Estimate vs bill per provider on a month of provider usage with every billing dimension.

The month of tests/support/provider_month.py (OpenAI text, cached input, audio, batch, flex, priority; Anthropic cache
reads, 5-minute and 1-hour cache writes, web searches, the 200k-1M window of Sonnet 4, batch, US-only inference,
fast mode), served by the fake OpenAI and Anthropic endpoints in their documented shapes, read by the real pollers on
a fresh SQLite database (the first run reads from the start of the month), reconciled against the bills computed
from the providers' published prices. Beside each figure: the limit (1% per provider and day), and "before": the
same usage priced as tokenbot priced it before issue 14 (genai-prices list prices of text tokens only, no batch,
tier, cache-write, audio or web-search pricing, no long-context tier for Sonnet 4).

    python bench/provider_bills.py
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_deps  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.domain.format import usd  # noqa: E402
from bot.domain.reconcile_breakdown import by_dimension  # noqa: E402
from bot.features.reconciliation import load_breakdown, load_reconciliation  # noqa: E402
from bot.pollers.anthropic_costs import poll_anthropic_costs  # noqa: E402
from bot.pollers.anthropic_usage import poll_anthropic_usage  # noqa: E402
from bot.pollers.openai_costs import poll_openai_costs  # noqa: E402
from bot.pollers.openai_usage import poll_openai_usage  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sqlalchemy import select  # noqa: E402
from storage.tables.core import usage_events  # noqa: E402
from tests.conftest import NOW  # noqa: E402
from tests.support.provider_month import build_month, load, start_provider  # noqa: E402

LIMIT_PCT = 1.0


async def main() -> int:
    month = build_month(date(2026, 11, 1), NOW)
    clock = ManualClock(NOW)
    openai, anthropic = await start_provider("openai", clock), await start_provider("anthropic", clock)
    load(month, openai, anthropic)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bench.db",
                                 TOKENBOT_OPENAI_ADMIN_KEY=openai.usage.admin_key, TOKENBOT_OPENAI_API_URL=openai.url,
                                 TOKENBOT_ANTHROPIC_ADMIN_KEY=anthropic.usage.admin_key,
                                 TOKENBOT_ANTHROPIC_API_URL=anthropic.url)
        deps = await build_deps(settings, clock)
        try:
            for poll in (poll_openai_usage, poll_anthropic_usage, poll_openai_costs, poll_anthropic_costs):
                report = await poll(deps)
                print(report.summary())
                if not report.ok:
                    return 1
            r = await load_reconciliation(deps)
            before = await _before(deps)
            first, last, lines = await load_breakdown(deps)
        finally:
            await deps.close()
    await openai.stop()
    await anthropic.stop()
    assert r is not None
    print(f"\nEstimate vs bill, {r.first_day}..{r.last_day} ({len(r.providers[0].compared)} days); limit "
          f"{LIMIT_PCT:g}% per provider and day")
    print(f"{'provider':<10} {'bill':>11} {'estimate':>11} {'diff':>8} {'worst day':>10} {'limit':>6}   "
          f"{'before':>11} {'diff':>8}")
    worst_all = 0.0
    for p in r.providers:
        worst = max(abs(d.diff_pct or 0) for d in p.compared)
        worst_all = max(worst_all, worst)
        b = sum(before.get((p.provider, d.day), 0) for d in p.compared)
        print(f"{p.provider:<10} {usd(p.billed_micros):>11} {usd(p.estimated_micros):>11} {p.diff_pct:>+7.2f}% "
              f"{worst:>9.2f}% {LIMIT_PCT:>5g}%   {usd(b):>11} {(b - p.billed_micros) / p.billed_micros * 100:>+7.1f}%")
    print("\nper billing dimension (after):")
    for g in by_dimension(lines):
        print(f"  {g.provider:<10} {g.dimension:<6} bill {usd(g.billed_micros or 0):>10}  estimate "
              f"{usd(g.estimated_micros):>10}  {g.diff_pct if g.diff_pct is not None else 0:+.2f}%")
    print(f"\n{'OK' if worst_all < LIMIT_PCT else 'OVER THE LIMIT'}: worst day {worst_all:.2f}% (limit {LIMIT_PCT:g}%)")
    return 0 if worst_all < LIMIT_PCT else 1


async def _before(deps) -> dict:  # noqa: ANN001
    """The same events priced as before issue 14: genai-prices list prices of their text tokens, nothing else."""
    from datetime import UTC, datetime

    out: dict = {}
    async with deps.engine.connect() as conn:
        rows = (await conn.execute(select(usage_events.c.provider, usage_events.c.model, usage_events.c.ts,
                                          usage_events.c.metadata))).all()
    for provider, model, ts, md in rows:
        b = md["billing"]
        text_in = b.get("text_input", 0) + b.get("cache_read", 0) + b.get("cache_write_5m", 0) + b.get("cache_write_1h", 0)
        n = 200_001 if b.get("long_context") else b.get("request_input_tokens", 1)
        micros = deps.ledger.pricer.aggregate_cost_micros(model, provider, text_in, b.get("output", 0),
                                                          b.get("cache_read", 0), ts, n) or 0
        key = (provider, datetime.fromtimestamp(ts, UTC).date())
        out[key] = out.get(key, 0) + micros
    return out


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
