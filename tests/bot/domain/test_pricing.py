from decimal import Decimal

from genai_prices import Usage, calc_price

from bot.domain.pricing import Pricer

TS = 1_763_500_000


def reference(model: str, provider: str | None, i: int, o: int, c: int) -> int:
    price = calc_price(Usage(input_tokens=i, output_tokens=o, cache_read_tokens=c or None), model, provider_id=provider)
    return int((price.total_price * Decimal(1_000_000)).to_integral_value())


def test_fast_path_agrees_with_genai_prices() -> None:
    pricer = Pricer()
    cases = [("gpt-4o", "openai", 1000, 500, 100), ("gpt-4o-mini", None, 123_456, 789, 0),
             ("claude-sonnet-4-5", None, 150_000, 2000, 50_000),
             ("claude-sonnet-4-5", "anthropic", 250_000, 2000, 10_000),  # past the 200k tier: every token dearer
             ("gemini-2.5-pro", "google", 300_000, 500, 0)]
    for model, provider, i, o, c in cases:
        assert abs(pricer.cost_micros(model, provider, i, o, c, TS) - reference(model, provider, i, o, c)) <= 1, model


def test_unknown_model_has_no_price_and_unknown_provider_falls_back() -> None:
    pricer = Pricer()
    assert pricer.cost_micros("in-house-llm", None, 1000, 10, 0, TS) is None
    assert pricer.cost_micros("gpt-4o", "my-proxy", 1_000_000, 0, 0, TS) == 2_500_000


def test_a_gateways_provider_prefixed_model_is_priced_as_the_providers_own() -> None:
    """LiteLLM logs its deployment's model ("openai/gpt-4o"); an event it could not price must still be priced."""
    pricer = Pricer()
    ts = 1_795_354_297
    assert pricer.cost_micros("openai/gpt-4o", None, 1000, 1000, 0, ts) == pricer.cost_micros("gpt-4o", "openai", 1000, 1000, 0, ts)
    assert pricer.cost_micros("openai/gpt-4o", None, 1000, 1000, 0, ts) == 12_500
    assert pricer.cost_micros("nobody/unknown-model", None, 1, 1, 0, ts) is None
