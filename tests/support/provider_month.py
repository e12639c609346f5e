"""A month of OpenAI and Anthropic usage with every billing dimension, and the bills the providers would send for it.

The usage is served by tests/support/fake_usage_api.py in the documented result shapes; the bills are computed here,
line by line, from the providers' published prices (the constants below, read from the pages named beside them on
2026-11-22) -- not from tokenbot's price code -- and served by tests/support/fake_cost_api.py. Used by
tests/bot/pollers/test_provider_bills.py and bench/provider_bills.py.

Every dimension is present: OpenAI text, cached input, audio input and output, batch, flex and priority tiers;
Anthropic uncached input, cache reads, 5-minute and 1-hour cache writes, web searches, the 200k-1M context window of
a model genai-prices has no long-context tier for (Sonnet 4), batch, US-only inference and fast mode.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.fake_usage_api import anthropic_result, openai_result

M = Decimal(1_000_000)

# OpenAI, https://platform.openai.com/docs/pricing (USD per 1M tokens): standard (input, cached input, output);
# Batch and Flex at half those; Priority (https://platform.openai.com/docs/guides/priority-processing) its own list.
OPENAI_STANDARD = {
    "gpt-4o-2024-08-06": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini-2024-07-18": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "gpt-5-2025-08-07": (Decimal("1.25"), Decimal("0.125"), Decimal("10.00")),
    "gpt-4o-audio-preview-2024-12-17": (Decimal("2.50"), Decimal("2.50"), Decimal("10.00")),
}
OPENAI_PRIORITY = {"gpt-4o-2024-08-06": (Decimal("4.25"), Decimal("2.125"), Decimal("17.00"))}
OPENAI_AUDIO = {"gpt-4o-audio-preview-2024-12-17": (Decimal("40.00"), Decimal("80.00"))}  # audio input, output

# Anthropic, https://docs.anthropic.com/en/docs/about-claude/pricing (USD per 1M tokens): base input, 5m cache write
# (1.25x), 1h cache write (2x), cache read (0.1x), output; long context (>200k input, Sonnet 4 / Opus 4.6): input-side
# x2, output x1.5; Batch: half of every token price; web search $10 per 1,000 searches. US-only inference
# (data-residency page) 1.1x; fast mode (fast-mode page, Opus 4.6) 6x.
ANTHROPIC = {
    "claude-sonnet-4-20250514": (Decimal("3"), Decimal("15")),
    "claude-opus-4-6": (Decimal("5"), Decimal("25")),
    "claude-haiku-4-5-20251001": (Decimal("1"), Decimal("5")),
}
WEB_SEARCH = Decimal("0.01")

OPENAI_KEYS = ("key_ada1", "key_alan1")
ANTHROPIC_KEYS = ("apikey_01Rj2N8SVvo6BePZj99NhmiT", "apikey_02Grace")
HOURS = (3, 9, 14, 20)  # hours of the day with usage (UTC)


@dataclass
class Month:
    """Usage per hour (the fakes' `usage`) and the bill per day (the fakes' `bill_lines`) of each provider."""

    openai_usage: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    anthropic_usage: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    openai_bill: dict[date, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))
    anthropic_bill: dict[date, dict[tuple, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))

    def openai_lines(self, day: date) -> list[dict[str, Any]]:
        return [{"dollars": str(v.quantize(Decimal("0.000001"))), "line_item": item}
                for item, v in sorted(self.openai_bill[day].items())]

    def anthropic_lines(self, day: date) -> list[dict[str, Any]]:
        out = []
        for (model, cost_type, token_type, tier, window, geo), v in sorted(self.anthropic_bill[day].items(),
                                                                          key=lambda kv: str(kv[0])):
            out.append({"dollars": str(v.quantize(Decimal("0.000001"))), "model": model, "cost_type": cost_type,
                        "token_type": token_type, "service_tier": tier, "context_window": window, "inference_geo": geo,
                        "description": f"{model} {cost_type} {token_type or ''}".strip()})
        return out

    def total(self, provider: str, day: date) -> Decimal:
        bill = self.openai_bill if provider == "openai" else self.anthropic_bill
        return sum(bill[day].values(), Decimal(0))


def build_month(first: date, until: datetime, seed: int = 14) -> Month:
    """Usage in HOURS of every day from `first` to `until` (exclusive), and its bills."""
    rnd = random.Random(seed)
    month = Month()
    day = first
    while True:
        for hour in HOURS:
            start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            if start + timedelta(hours=1) > until:
                return month
            ts = int(start.timestamp())
            _openai_hour(month, ts, day, rnd)
            _anthropic_hour(month, ts, day, rnd)
        day += timedelta(days=1)


def _openai_hour(month: Month, ts: int, day: date, rnd: random.Random) -> None:
    def add(model: str, key: str, *, text: int, cached: int, out: int, requests: int, batch: bool = False,
            tier: str = "default", audio_in: int = 0, audio_out: int = 0) -> None:
        month.openai_usage[ts].append(openai_result(
            user_id=None, api_key_id=key, model=model, input_tokens=text, output_tokens=out, cached=cached,
            requests=requests, audio_input=audio_in, audio_output=audio_out, batch=batch, service_tier=tier))
        p_in, p_cached, p_out = OPENAI_PRIORITY[model] if tier == "priority" else OPENAI_STANDARD[model]
        factor = Decimal("0.5") if batch or tier == "flex" else Decimal(1)
        kind = "batch " if batch else ""
        bill = month.openai_bill[day]
        bill[f"{model}, {kind}input"] += (text - cached) * p_in * factor / M
        bill[f"{model}, {kind}cached input"] += cached * p_cached * factor / M
        bill[f"{model}, {kind}output"] += out * p_out * factor / M
        if audio_in or audio_out:
            a_in, a_out = OPENAI_AUDIO[model]
            bill[f"{model}, audio input"] += audio_in * a_in / M
            bill[f"{model}, audio output"] += audio_out * a_out / M

    for key in OPENAI_KEYS:
        n = rnd.randint(20, 60)
        text = n * rnd.randint(1500, 4000)
        add("gpt-4o-2024-08-06", key, text=text, cached=text // 3, out=n * rnd.randint(200, 900), requests=n)
        add("gpt-4o-mini-2024-07-18", key, text=n * 3000, cached=0, out=n * 400, requests=n)
    n = rnd.randint(50, 200)
    add("gpt-4o-2024-08-06", OPENAI_KEYS[0], text=n * 3000, cached=n * 500, out=n * 700, requests=n, batch=True)
    n = rnd.randint(5, 30)
    add("gpt-4o-2024-08-06", OPENAI_KEYS[1], text=n * 2000, cached=n * 1000, out=n * 500, requests=n, tier="priority")
    n = rnd.randint(10, 40)
    add("gpt-5-2025-08-07", OPENAI_KEYS[0], text=n * 8000, cached=n * 4000, out=n * 3000, requests=n, tier="flex")
    n = rnd.randint(5, 20)
    add("gpt-4o-audio-preview-2024-12-17", OPENAI_KEYS[1], text=n * 300, cached=0, out=n * 100, requests=n,
        audio_in=n * 4000, audio_out=n * 2500)


def _anthropic_hour(month: Month, ts: int, day: date, rnd: random.Random) -> None:
    def add(model: str, key: str, *, uncached: int, read: int = 0, w5: int = 0, w1: int = 0, out: int,
            searches: int = 0, tier: str = "standard", window: str = "0-200k", geo: str = "global",
            speed: str | None = None) -> None:
        month.anthropic_usage[ts].append(anthropic_result(
            api_key_id=key, workspace_id="wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", model=model, uncached=uncached,
            cache_read=read, write_5m=w5, write_1h=w1, output=out, web_searches=searches, service_tier=tier,
            context_window=window, inference_geo=geo, speed=speed))
        base_in, base_out = ANTHROPIC[model]
        mult = Decimal(1)
        if window == "200k-1M":
            p_in, p_out = base_in * 2, base_out * Decimal("1.5")
        else:
            p_in, p_out = base_in, base_out
        if tier == "batch":
            mult *= Decimal("0.5")
        if geo == "us":
            mult *= Decimal("1.1")
        if speed == "fast":
            mult *= 6
        bill = month.anthropic_bill[day]
        for token_type, n, price in (("uncached_input_tokens", uncached, p_in),
                                     ("cache_read_input_tokens", read, p_in * Decimal("0.1")),
                                     ("cache_creation.ephemeral_5m_input_tokens", w5, p_in * Decimal("1.25")),
                                     ("cache_creation.ephemeral_1h_input_tokens", w1, p_in * 2),
                                     ("output_tokens", out, p_out)):
            if n:
                bill[(model, "tokens", token_type, tier, window, geo)] += n * price * mult / M
        if searches:
            bill[(model, "web_search", None, tier, window, geo)] += searches * WEB_SEARCH

    for key in ANTHROPIC_KEYS:
        n = rnd.randint(10, 40)
        add("claude-sonnet-4-20250514", key, uncached=n * 2000, read=n * 20_000, w5=n * 1500, w1=n * 800,
            out=n * 600, searches=rnd.randint(0, 12))
        add("claude-haiku-4-5-20251001", key, uncached=n * 3000, read=n * 5000, w5=n * 500, out=n * 300)
    n = rnd.randint(1, 4)
    add("claude-sonnet-4-20250514", ANTHROPIC_KEYS[0], uncached=n * 250_000, read=n * 100_000, w5=n * 20_000,
        out=n * 4000, window="200k-1M")
    n = rnd.randint(20, 80)
    add("claude-haiku-4-5-20251001", ANTHROPIC_KEYS[1], uncached=n * 4000, read=n * 2000, out=n * 800, tier="batch")
    add("claude-sonnet-4-20250514", ANTHROPIC_KEYS[1], uncached=n * 4000, w5=n * 1000, out=n * 800, tier="batch")
    n = rnd.randint(3, 10)
    add("claude-opus-4-6", ANTHROPIC_KEYS[0], uncached=n * 5000, read=n * 10_000, w1=n * 2000, out=n * 1500,
        geo="us")
    n = rnd.randint(1, 5)
    add("claude-opus-4-6", ANTHROPIC_KEYS[1], uncached=n * 3000, out=n * 2000, speed="fast")


@dataclass
class ProviderFakes:
    """One provider's usage and cost endpoints on one local server (the bot has one base URL per provider)."""

    usage: Any
    costs: Any
    url: str = ""
    _runner: Any = None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def start_provider(kind: str, clock: Any) -> ProviderFakes:
    from aiohttp import web

    from tests.support.fake_cost_api import ANTHROPIC_COSTS_PATH, OPENAI_COSTS_PATH, FakeCostAPI
    from tests.support.fake_usage_api import ANTHROPIC_PATH, OPENAI_PATH, FakeUsageAPI

    usage, costs = FakeUsageAPI(kind, clock), FakeCostAPI(kind, clock)
    app = web.Application()
    app.router.add_get(OPENAI_PATH if kind == "openai" else ANTHROPIC_PATH, usage._usage)
    app.router.add_get(OPENAI_COSTS_PATH if kind == "openai" else ANTHROPIC_COSTS_PATH, costs._costs)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    usage.url = costs.url = url
    return ProviderFakes(usage, costs, url, runner)


def load(month: Month, openai: ProviderFakes | None, anthropic: ProviderFakes | None) -> None:
    """The month's usage and bills into the fakes."""
    if openai is not None:
        openai.usage.usage.update({h: list(r) for h, r in month.openai_usage.items()})
        for day in month.openai_bill:
            openai.costs.bill_lines(day, month.openai_lines(day))
    if anthropic is not None:
        anthropic.usage.usage.update({h: list(r) for h, r in month.anthropic_usage.items()})
        for day in month.anthropic_bill:
            anthropic.costs.bill_lines(day, month.anthropic_lines(day))
