"""Pricing a provider's usage bucket the way the provider bills it (pure, no I/O).

genai-prices gives per-model list prices for text, cache reads and writes, audio and web searches, with long-context
tiers for some models. The providers bill along more dimensions than that: batch, service tier, the context-window
tier of models genai-prices has no tier for, cache writes by duration, web searches per request, audio, region and
speed. What genai-prices lacks is the small table below: every row names the page it was read from and the day it
was checked, so a stale row is easy to find and fix. The org file's `prices:` may override a model's dimension
prices (cache_write_per_mtok, cache_write_1h_per_mtok, audio_input_per_mtok, audio_output_per_mtok,
web_search_per_1k, batch_discount_pct), and its contract discount applies to every dimension.

A bucket is priced in parts, one per billing dimension ("text", "cache", "audio", "tools", "batch"), so
reconciliation can say which dimension a gap comes from.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from genai_prices.types import ModelPrice, TieredPrices

from bot.domain.pricing import MICROS_PER_USD, PriceOverride, Pricer

CHECKED = "2026-11-22"
ANTHROPIC_PRICING = "https://docs.anthropic.com/en/docs/about-claude/pricing"
OPENAI_PRICING = "https://platform.openai.com/docs/pricing"


@dataclass(frozen=True)
class Row:
    """One maintained price fact: `value` is a multiplier of the standard price, or USD as `what` says."""

    what: str
    value: float
    source: str
    checked: str = CHECKED


# Batch APIs: half the standard token price (cache multipliers stack with it; web searches are not discounted).
BATCH = {
    "anthropic": Row("batch multiplier", 0.5, ANTHROPIC_PRICING + "#batch-processing"),
    "openai": Row("batch multiplier", 0.5, "https://platform.openai.com/docs/guides/batch"),
}
# Prompt-cache writes, as multiples of the input price, where genai-prices has no cache-write price.
CACHE_WRITE_5M = Row("5-minute cache write, x input", 1.25, ANTHROPIC_PRICING + "#prompt-caching")
CACHE_WRITE_1H = Row("1-hour cache write, x input", 2.0, ANTHROPIC_PRICING + "#prompt-caching")
# Requests of more than 200k input tokens (Anthropic's context_window "200k-1M"), for models genai-prices has no
# tier for: input (and cache reads and writes) x2, output x1.5. Matched by model-name prefix.
LONG_CONTEXT = {
    "claude-sonnet-4": (Row("long-context input", 2.0, ANTHROPIC_PRICING + "#long-context-pricing"),
                        Row("long-context output", 1.5, ANTHROPIC_PRICING + "#long-context-pricing")),
    "claude-opus-4-6": (Row("long-context input", 2.0, ANTHROPIC_PRICING + "#long-context-pricing"),
                        Row("long-context output", 1.5, ANTHROPIC_PRICING + "#long-context-pricing")),
}
# Web search (Anthropic's server tool), USD per request, where genai-prices has no price.
WEB_SEARCH = {"anthropic": Row("web search, USD per request", 10 / 1000, ANTHROPIC_PRICING + "#web-search-tool")}
# Audio tokens, USD per million, where genai-prices has none (it prices these models' text only).
AUDIO = {
    "gpt-4o-audio-preview": (Row("audio input per MTok", 40.0, OPENAI_PRICING + "#audio-tokens"),
                             Row("audio output per MTok", 80.0, OPENAI_PRICING + "#audio-tokens")),
    "gpt-4o-mini-audio-preview": (Row("audio input per MTok", 10.0, OPENAI_PRICING + "#audio-tokens"),
                                  Row("audio output per MTok", 20.0, OPENAI_PRICING + "#audio-tokens")),
    "gpt-audio": (Row("audio input per MTok", 32.0, OPENAI_PRICING + "#audio-tokens"),
                  Row("audio output per MTok", 64.0, OPENAI_PRICING + "#audio-tokens")),
    "gpt-audio-mini": (Row("audio input per MTok", 10.0, OPENAI_PRICING + "#audio-tokens"),
                       Row("audio output per MTok", 20.0, OPENAI_PRICING + "#audio-tokens")),
}
# OpenAI service tiers. Flex is billed at Batch API rates. Priority has its own per-model list price (input, cached
# input, output per MTok); a model not listed is priced at PRIORITY_DEFAULT x standard (the listed ones are 1.7-2x).
# Scale Tier usage is billed as prepaid units; tokens are priced at standard here.
FLEX = Row("flex multiplier", 0.5, "https://platform.openai.com/docs/guides/flex-processing")
PRIORITY_SOURCE = "https://platform.openai.com/docs/guides/priority-processing"
PRIORITY = {  # model prefix -> (input, cached input, output) USD per MTok, longest prefix first when matching
    "gpt-5-mini": (0.45, 0.045, 3.60),
    "gpt-5": (2.50, 0.25, 20.00),
    "gpt-4.1-mini": (0.70, 0.175, 2.80),
    "gpt-4.1": (3.50, 0.875, 14.00),
    "gpt-4o-mini": (0.25, 0.125, 1.00),
    "gpt-4o": (4.25, 2.125, 17.00),
    "o4-mini": (2.00, 0.50, 8.00),
    "o3": (3.50, 0.875, 14.00),
}
PRIORITY_DEFAULT = Row("priority multiplier for a model not listed", 2.0, PRIORITY_SOURCE)
# Anthropic inference_geo "us" (US-only inference, Opus 4.6 and later): 1.1x every token price.
US_GEO = Row("US-only inference multiplier", 1.1, "https://platform.claude.com/docs/en/build-with-claude/data-residency")
# Anthropic speed "fast" (fast mode, Opus 4.6): 6x the standard price, on top of the long-context tier.
FAST = {"claude-opus-4-6": Row("fast-mode multiplier", 6.0,
                               "https://platform.claude.com/docs/en/build-with-claude/fast-mode")}

DIMENSIONS = ("text", "cache", "audio", "tools", "batch")


@dataclass(frozen=True)
class UnitPrices:
    """USD per token (web_search: per request) of one model at one context-window tier, before tiers and modes."""

    input: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float
    output: float
    audio_input: float | None  # None: no known audio price (audio usage then leaves the bucket unpriced)
    audio_output: float | None
    web_search: float


@dataclass(frozen=True)
class BucketUsage:
    """One usage bucket x group, counted the way the provider counts it."""

    provider: str
    model: str
    text_input: int = 0  # uncached text input tokens (no cache reads, no cache writes)
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0  # text output
    audio_input: int = 0
    audio_output: int = 0
    web_searches: int = 0
    batch: bool = False
    service_tier: str | None = None  # OpenAI: default|flex|priority|scale; Anthropic: standard|batch|priority
    long_context: bool = False  # Anthropic context_window "200k-1M"
    request_input_tokens: int = 1  # one typical request's input: picks genai-prices' own tier
    inference_geo: str | None = None
    speed: str | None = None

    @classmethod
    def from_billing(cls, provider: str, model: str, b: dict[str, Any]) -> BucketUsage:
        fields = {k: b[k] for k in cls.__dataclass_fields__ if k in b and k not in ("provider", "model")}
        return cls(provider=provider, model=model, **fields)


@dataclass(frozen=True)
class PricedBucket:
    parts: dict[str, int]  # dimension -> micro-USD
    rules: tuple[str, ...]  # the table rows (and overrides) that applied, for the reader of an event's metadata

    @property
    def micros(self) -> int:
        return sum(self.parts.values())


def unit_prices(genai: tuple[str, ModelPrice] | None, override: PriceOverride | None, model: str,
                provider: str, request_input_tokens: int, long_context: bool) -> tuple[UnitPrices, list[str]] | None:
    """A model's per-token prices from genai-prices, the org file's override and the table above; None: no price."""
    applied: list[str] = []
    n = 200_001 if long_context else max(request_input_tokens, 1)
    if override is not None and override.input_per_mtok is not None:  # a price of its own
        inp = override.input_per_mtok / 1e6
        out = (override.output_per_mtok if override.output_per_mtok is not None else override.input_per_mtok) / 1e6
        cached = (override.cached_input_per_mtok / 1e6 if override.cached_input_per_mtok is not None else inp)
        p: dict[str, float | None] = {"input": inp, "output": out, "cache_read": cached}
        tiered, key = False, model.lower()
        applied.append("org price")
    elif genai is not None:
        key, price = genai
        p = {name: _at_tier(getattr(price, attr, None), n) for name, attr in (
            ("input", "input_mtok"), ("output", "output_mtok"), ("cache_read", "cache_read_mtok"),
            ("cache_write_5m", "cache_write_mtok"), ("cache_write_1h", "cache_write_1h_mtok"),
            ("audio_input", "input_audio_mtok"), ("audio_output", "output_audio_mtok"))}
        p = {k: None if v is None else v / 1e6 for k, v in p.items()}
        searches = getattr(price, "web_searches_kcount", None)
        p["web_search"] = None if searches is None else float(searches) / 1000
        tiered = any(isinstance(getattr(price, a, None), TieredPrices) and price.__dict__[a].tiers
                     for a in ("input_mtok", "output_mtok"))
    else:
        return None
    if p.get("input") is None:
        return None
    name = model.lower().split("/", 1)[-1]
    if long_context and not tiered:
        rows = _by_prefix(LONG_CONTEXT, (key, name))
        if rows is not None:
            for k in ("input", "cache_read", "cache_write_5m", "cache_write_1h"):
                if p.get(k) is not None:
                    p[k] = p[k] * rows[0].value
            p["output"] = p["output"] * rows[1].value
            applied.append("long-context tier (table)")
    if p.get("cache_write_5m") is None:
        p["cache_write_5m"] = p["input"] * CACHE_WRITE_5M.value
    if p.get("cache_write_1h") is None:
        p["cache_write_1h"] = p["input"] * CACHE_WRITE_1H.value
    if p.get("cache_read") is None:
        p["cache_read"] = p["input"]
    if p.get("audio_input") is None or p.get("audio_output") is None:
        audio = _by_prefix(AUDIO, (key, name))
        if audio is not None:
            p["audio_input"] = p.get("audio_input") or audio[0].value / 1e6
            p["audio_output"] = p.get("audio_output") or audio[1].value / 1e6
    if p.get("web_search") is None:
        row = WEB_SEARCH.get(provider)
        p["web_search"] = row.value if row is not None else 0.0
    if override is not None:
        for attr, k, scale in (("cache_write_per_mtok", "cache_write_5m", 1e6), ("cache_write_1h_per_mtok",
                               "cache_write_1h", 1e6), ("audio_input_per_mtok", "audio_input", 1e6),
                               ("audio_output_per_mtok", "audio_output", 1e6), ("web_search_per_1k", "web_search", 1e3)):
            value = getattr(override, attr, None)
            if value is not None:
                p[k] = value / scale
                applied.append(f"org {attr}")
        if override.discount_pct and override.input_per_mtok is None:
            factor = 1 - override.discount_pct / 100
            p = {k: None if v is None else v * factor for k, v in p.items()}
            applied.append(f"org discount {override.discount_pct:g}%")
    return UnitPrices(input=p["input"], cache_read=p["cache_read"], cache_write_5m=p["cache_write_5m"],
                      cache_write_1h=p["cache_write_1h"], output=p["output"], audio_input=p.get("audio_input"),
                      audio_output=p.get("audio_output"), web_search=p["web_search"]), applied


def price_bucket(u: BucketUsage, prices: UnitPrices | None, applied: list[str] | None = None,
                 override: PriceOverride | None = None) -> PricedBucket | None:
    """The bucket's cost by dimension; None when the model (or its audio) has no known price."""
    if prices is None:
        return None
    if (u.audio_input or u.audio_output) and (prices.audio_input is None or prices.audio_output is None):
        return None
    rules = list(applied or [])
    mult = 1.0  # on every token price
    text_in, cached_in, text_out = prices.input, prices.cache_read, prices.output
    name = u.model.lower().split("/", 1)[-1]
    tier = (u.service_tier or "").lower()
    batch = u.batch or tier == "batch"
    if batch:
        discount = override.batch_discount_pct if override is not None else None
        mult *= (1 - discount / 100) if discount is not None else BATCH.get(u.provider, BATCH["openai"]).value
        rules.append("batch")
    elif u.provider == "openai" and tier == "flex":
        mult *= FLEX.value
        rules.append("flex")
    elif u.provider == "openai" and tier == "priority":
        listed = _by_prefix(PRIORITY, (name,))
        if listed is not None:
            text_in, cached_in, text_out = (v / 1e6 for v in listed)
            rules.append("priority (table)")
        else:
            mult *= PRIORITY_DEFAULT.value
            rules.append(f"priority x{PRIORITY_DEFAULT.value:g} (model not in the table)")
    if u.provider == "anthropic" and (u.inference_geo or "").lower() == "us":
        mult *= US_GEO.value
        rules.append("inference_geo us")
    if u.provider == "anthropic" and (u.speed or "").lower() == "fast":
        row = _by_prefix(FAST, (name,))
        if row is not None:
            mult *= row.value
            rules.append("speed fast")
    text = (u.text_input * text_in + u.output * text_out) * mult
    cache = (u.cache_read * cached_in + u.cache_write_5m * prices.cache_write_5m
             + u.cache_write_1h * prices.cache_write_1h) * mult
    audio = (u.audio_input * (prices.audio_input or 0) + u.audio_output * (prices.audio_output or 0)) * mult
    tools = u.web_searches * prices.web_search
    parts = {"text": text, "cache": cache, "audio": audio, "tools": tools}
    if batch:  # a batch job's tokens, whatever their kind, are the "batch" line of the bill
        parts = {"batch": text + cache + audio, "tools": tools}
    return PricedBucket({k: round(v * MICROS_PER_USD) for k, v in parts.items() if v}, tuple(rules))


def price_usage(pricer: Pricer, provider: str, model: str, ts: int, billing: dict[str, Any]) -> PricedBucket | None:
    """A provider usage bucket (an event's metadata["billing"]) priced with genai-prices, the org file and the table."""
    u = BucketUsage.from_billing(provider, model, billing)
    override = pricer.override(model)
    looked_up = model if override is None or not override.priced_as else override.priced_as
    found = unit_prices(pricer.model_price(looked_up, provider, ts), override, model, provider,
                        u.request_input_tokens, u.long_context)
    if found is None:
        return None
    return price_bucket(u, found[0], found[1], override)


def _at_tier(price: Decimal | TieredPrices | None, n: int) -> float | None:
    """A genai-prices price at the tier of a request of `n` input tokens (a tier applies above its start)."""
    if price is None:
        return None
    if isinstance(price, TieredPrices):
        value = price.base
        for tier in sorted(price.tiers, key=lambda t: t.start):
            if n > tier.start:
                value = tier.price
        return float(value)
    return float(price)


def _by_prefix(table: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        for prefix in sorted(table, key=len, reverse=True):
            if name.lower().startswith(prefix):
                return table[prefix]
    return None


__all__ = ["BucketUsage", "PricedBucket", "UnitPrices", "unit_prices", "price_bucket", "price_usage", "DIMENSIONS", "Row"]
