"""Pricing a provider usage bucket by billing dimension (bot/domain/price_rules.py), one rule at a time, against the
providers' published prices (USD per million tokens unless said otherwise)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.org import OrgFileError, parse_org
from bot.domain.price_rules import BucketUsage, price_usage
from bot.domain.pricing import PriceOverride, Pricer
from tests.conftest import ORG_YAML

TS = int(datetime(2026, 11, 10, tzinfo=UTC).timestamp())
MTOK = 1_000_000


def cost(pricer: Pricer, provider: str, model: str, **billing: object) -> dict[str, int] | None:
    priced = price_usage(pricer, provider, model, TS, billing)
    return None if priced is None else priced.parts


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def test_anthropic_cache_writes_by_duration_reads_and_web_searches(pricer: Pricer) -> None:
    # Sonnet 4: $3 input, $3.75 5-minute write (1.25x), $6 1-hour write (2x), $0.30 read, $15 output; $10 / 1k searches
    parts = cost(pricer, "anthropic", "claude-sonnet-4-20250514", text_input=MTOK, cache_write_5m=MTOK,
                 cache_write_1h=MTOK, cache_read=MTOK, output=MTOK, web_searches=100)
    assert parts == {"text": 18_000_000, "cache": 10_050_000, "tools": 1_000_000}


def test_long_context_window_of_a_model_genai_prices_has_no_tier_for(pricer: Pricer) -> None:
    # Sonnet 4 at >200k input: $6 input, $22.50 output, cache writes and reads doubled (the project's table) ...
    assert cost(pricer, "anthropic", "claude-sonnet-4-20250514", text_input=MTOK, output=MTOK, cache_write_5m=MTOK,
                long_context=True) == {"text": 28_500_000, "cache": 7_500_000}
    # ... and Sonnet 4.5, whose tier genai-prices has, the same way
    assert cost(pricer, "anthropic", "claude-sonnet-4-5", text_input=MTOK, output=MTOK,
                long_context=True) == {"text": 28_500_000}


def test_batch_halves_every_token_price_but_not_searches(pricer: Pricer) -> None:
    assert cost(pricer, "anthropic", "claude-haiku-4-5", text_input=MTOK, cache_read=MTOK, output=MTOK,
                web_searches=10, batch=True) == {"batch": 3_050_000, "tools": 100_000}
    assert cost(pricer, "openai", "gpt-4o", text_input=MTOK, output=MTOK, batch=True) == {"batch": 6_250_000}


def test_openai_service_tiers(pricer: Pricer) -> None:
    standard = cost(pricer, "openai", "gpt-4o", text_input=MTOK, cache_read=MTOK, output=MTOK)
    assert standard == {"text": 12_500_000, "cache": 1_250_000}
    assert cost(pricer, "openai", "gpt-4o", text_input=MTOK, cache_read=MTOK, output=MTOK,
                service_tier="priority") == {"text": 21_250_000, "cache": 2_125_000}  # $4.25 / $2.125 / $17
    assert cost(pricer, "openai", "gpt-5", text_input=MTOK, output=MTOK, service_tier="flex") == {"text": 5_625_000}
    assert cost(pricer, "openai", "gpt-4o", text_input=MTOK, service_tier="scale") == {"text": 2_500_000}
    # a model the priority table does not list: 2x standard, and the event says so
    priced = price_usage(pricer, "openai", "gpt-4.5-preview", TS, {"text_input": MTOK, "service_tier": "priority"})
    assert priced is not None and any("not in the table" in r for r in priced.rules)


def test_openai_audio_tokens_at_audio_rates(pricer: Pricer) -> None:
    # gpt-4o-audio-preview: text $2.50 / $10, audio $40 / $80 (genai-prices has the text prices only)
    assert cost(pricer, "openai", "gpt-4o-audio-preview-2024-12-17", text_input=MTOK, output=MTOK, audio_input=MTOK,
                audio_output=MTOK) == {"text": 12_500_000, "audio": 120_000_000}
    # gpt-realtime's audio prices come from genai-prices ($32 / $64)
    assert cost(pricer, "openai", "gpt-realtime", audio_input=MTOK, audio_output=MTOK) == {"audio": 96_000_000}
    # audio of a model with no known audio price: unpriced (flagged), never priced as text
    assert cost(pricer, "openai", "gpt-4o-mini", text_input=10, audio_input=MTOK) is None


def test_region_and_speed_multipliers(pricer: Pricer) -> None:
    base = cost(pricer, "anthropic", "claude-opus-4-6", text_input=MTOK, output=MTOK)
    assert base == {"text": 30_000_000}
    assert cost(pricer, "anthropic", "claude-opus-4-6", text_input=MTOK, output=MTOK,
                inference_geo="us") == {"text": 33_000_000}
    assert cost(pricer, "anthropic", "claude-opus-4-6", text_input=MTOK, output=MTOK,
                speed="fast") == {"text": 180_000_000}  # $30 / $150
    assert cost(pricer, "anthropic", "claude-opus-4-6", text_input=MTOK, output=MTOK, speed="fast",
                long_context=True) == {"text": 285_000_000}  # $60 / $225


def test_unknown_model_is_unpriced(pricer: Pricer) -> None:
    assert cost(pricer, "openai", "in-house-llm", text_input=10) is None


def test_org_file_overrides_dimension_prices() -> None:
    pricer = Pricer()
    pricer.set_overrides({"claude-sonnet-4-20250514": PriceOverride(cache_write_per_mtok=4.0, batch_discount_pct=60),
                          "gpt-4o": PriceOverride(discount_pct=10)})
    assert cost(pricer, "anthropic", "claude-sonnet-4-20250514", cache_write_5m=MTOK) == {"cache": 4_000_000}
    assert cost(pricer, "anthropic", "claude-sonnet-4-20250514", text_input=MTOK, batch=True) == {"batch": 1_200_000}
    assert cost(pricer, "openai", "gpt-4o", text_input=MTOK, batch=True) == {"batch": 1_125_000}  # 10% off, then half


def test_org_file_parses_dimension_prices() -> None:
    org = parse_org(ORG_YAML + "prices:\n  - {model: claude-sonnet-4-20250514, cache_write_per_mtok: 4,"
                    " web_search_per_1k: 8}\n")
    override = dict(org.prices)["claude-sonnet-4-20250514"]
    assert (override.cache_write_per_mtok, override.web_search_per_1k, override.input_per_mtok) == (4.0, 8.0, None)
    with pytest.raises(OrgFileError, match="batch_discount_pct must be at most 100"):
        parse_org(ORG_YAML + "prices:\n  - {model: m, batch_discount_pct: 150}\n")


def test_bucket_usage_ignores_unknown_keys() -> None:
    u = BucketUsage.from_billing("openai", "gpt-4o", {"text_input": 5, "something_new": 1})
    assert u.text_input == 5
