"""Cheaper siblings for `/tokens models`: only a real sibling, never the model itself or a release of it."""
from __future__ import annotations

from bot.domain.alternatives import ModelUse, cheaper_alternative, model_family
from bot.domain.pricing import Pricer

TS = 1_790_000_000  # 2026-09


def use(model: str, cost_micros: int = 50_000_000) -> ModelUse:
    return ModelUse(model, requests=1_000, input_tokens=2_000_000, output_tokens=500_000, cached_input_tokens=0,
                    cost_micros=cost_micros)


def test_a_small_model_is_not_offered_as_its_own_cheaper_sibling() -> None:
    assert model_family("gpt-4o-mini") == "gpt-4o-mini"
    assert cheaper_alternative(use("gpt-4o-mini"), Pricer(), TS) is None


def test_dated_releases_and_provider_prefixes_find_their_family() -> None:
    assert model_family("openai/gpt-4o-2024-08-06") == "gpt-4o"
    assert model_family("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    alt = cheaper_alternative(use("openai/gpt-4o-2024-08-06", cost_micros=10_000_000), Pricer(), TS)
    assert alt is not None and alt.model == "gpt-4o-mini"
    # gpt-4o-mini at $0.15/$0.60 per million: 2M in + 0.5M out = $0.30 + $0.30
    assert alt.cost_micros == 600_000 and alt.saving(10_000_000) == 9_400_000


def test_no_alternative_when_the_sibling_would_cost_more() -> None:
    assert cheaper_alternative(use("gpt-4o", cost_micros=100_000), Pricer(), TS) is None
