"""Prices from genai-prices, made fast enough for the ingestion hot path.

genai-prices' `calc_price` costs ~75 µs a call (Decimal maths, price-unit registry), four times our whole per-event
budget. Prices are linear in token counts within a tier (tiers are "cliffs": crossing one prices all tokens at the
tier's rate), so we ask genai-prices once per (provider, model, day) for each tier's per-token rates and then only
multiply floats.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

MICROS_PER_USD = 1_000_000


class LinearRates(NamedTuple):
    """USD per token."""

    uncached_input: float
    cached_input: float
    output: float


class PriceTable(NamedTuple):
    """Rates by tier: `rates[i]` applies when the request's input tokens exceed `thresholds[i-1]`."""

    thresholds: tuple[int, ...]
    rates: tuple[LinearRates, ...]


@dataclass(frozen=True)
class PriceOverride:
    """Either a price of its own (USD per million tokens) or a discount on genai-prices' price (of `priced_as`)."""

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    cached_input_per_mtok: float | None = None
    discount_pct: float = 0.0
    priced_as: str | None = None
    # Provider billing dimensions (bot/domain/price_rules.py) where the org's contract or a newer list price differs
    # from genai-prices and the project's table: USD per million tokens, per 1,000 web searches, batch discount.
    cache_write_per_mtok: float | None = None
    cache_write_1h_per_mtok: float | None = None
    audio_input_per_mtok: float | None = None
    audio_output_per_mtok: float | None = None
    web_search_per_1k: float | None = None
    batch_discount_pct: float | None = None


class Pricer:
    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, str, int], PriceTable | None] = {}
        self._snapshot = data_snapshot.get_snapshot()
        self._overrides: dict[str, PriceOverride] = {}

    def set_overrides(self, overrides: dict[str, PriceOverride]) -> None:
        """The org file's per-model prices (negotiated discounts, self-hosted models), keyed by lower-case model."""
        if overrides != self._overrides:
            self._overrides = dict(overrides)
            self._cache.clear()

    def has_override(self, model: str) -> bool:
        """Whether the org file prices this model itself (a source's own cost figure is then replaced)."""
        return model.lower() in self._overrides

    def cost_micros(self, model: str, provider: str | None, input_tokens: int, output_tokens: int,
                    cached_input_tokens: int, ts: int) -> int | None:
        """Cost of one request in micro-USD, or None when the model has no known price."""
        return self.aggregate_cost_micros(model, provider, input_tokens, output_tokens, cached_input_tokens, ts,
                                          input_tokens)

    def aggregate_cost_micros(self, model: str, provider: str | None, input_tokens: int, output_tokens: int,
                              cached_input_tokens: int, ts: int, request_input_tokens: int) -> int | None:
        """Cost of many requests summed into one record (a provider's hourly usage bucket). The price tier is chosen
        by `request_input_tokens`, the input of one typical request, never by the sum (which would cross every
        long-context threshold)."""
        key = (provider, model, ts // 86400)
        table = self._cache.get(key, _MISSING)
        if table is _MISSING:
            table = self._cache[key] = self._table(model, provider, ts)
        if table is None:
            return None
        rates = table.rates[bisect_left(table.thresholds, request_input_tokens)] if table.thresholds else table.rates[0]
        usd = ((input_tokens - cached_input_tokens) * rates.uncached_input
               + cached_input_tokens * rates.cached_input + output_tokens * rates.output)
        return round(usd * MICROS_PER_USD)

    def _table(self, model: str, provider: str | None, ts: int) -> PriceTable | None:
        override = self._overrides.get(model.lower())
        if override is None:
            return self._lookup(model, provider, ts)
        if override.input_per_mtok is not None:  # a price of its own (self-hosted, or a contract price)
            output = override.output_per_mtok if override.output_per_mtok is not None else override.input_per_mtok
            cached = override.cached_input_per_mtok if override.cached_input_per_mtok is not None else override.input_per_mtok
            return PriceTable((), (LinearRates(override.input_per_mtok / 1e6, cached / 1e6, output / 1e6),))
        table = self._lookup(override.priced_as or model, provider, ts)
        if table is None:
            return None
        factor = 1 - override.discount_pct / 100
        return PriceTable(table.thresholds, tuple(LinearRates(r.uncached_input * factor, r.cached_input * factor,
                                                              r.output * factor) for r in table.rates))

    def _lookup(self, model: str, provider: str | None, ts: int) -> PriceTable | None:
        info = self._find(model, provider)
        if info is None and "/" in model:  # a gateway's "openai/gpt-4o" (LiteLLM logs its deployment's model so)
            prefix, name = model.split("/", 1)
            info = self._find(name, provider or prefix)
        if info is None:
            return None
        model_price = info.get_prices(datetime.fromtimestamp(ts, UTC))
        thresholds = sorted({tier.start for v in vars(model_price).values() if isinstance(v, TieredPrices)
                             for tier in v.tiers})
        # One representative input size per tier: at most the first threshold, then just past each one.
        sizes = [thresholds[0] if thresholds else 1_000_000] + [t + 1 for t in thresholds]
        return PriceTable(tuple(thresholds), tuple(_rates(model_price, n) for n in sizes))


    def model_price(self, model: str, provider: str | None, ts: int) -> tuple[str, ModelPrice] | None:
        """genai-prices' model id and price of `model` on the day of `ts`, or None for a model it does not know."""
        info = self._find(model, provider)
        if info is None and "/" in model:
            prefix, name = model.split("/", 1)
            info = self._find(name, provider or prefix)
        return None if info is None else (str(info.id), info.get_prices(datetime.fromtimestamp(ts, UTC)))

    def override(self, model: str) -> PriceOverride | None:
        """The org file's price of `model` (lower-cased), if it gives one."""
        return self._overrides.get(model.lower())

    def provider_of(self, model: str) -> str | None:
        """The provider genai-prices lists for a model ("openai" for gpt-4o; a gateway's "openai/gpt-4o" by its
        prefix), or None for a model it does not know (an in-house one)."""
        if "/" in model:
            return model.split("/", 1)[0].lower()
        try:
            return str(self._snapshot.find_provider_model(model, None, None, None)[0].id)
        except LookupError:
            return None

    def _find(self, model: str, provider: str | None):  # noqa: ANN202 - genai-prices' ModelInfo, or None
        try:
            return self._snapshot.find_provider_model(model, None, provider, None)[1]
        except LookupError:
            if provider is None:
                return None
        try:  # the provider name may be one genai-prices does not know ("azure_ai", a proxy's label)
            return self._snapshot.find_provider_model(model, None, None, None)[1]
        except LookupError:
            return None


def _rates(model_price: ModelPrice, n: int) -> LinearRates:
    def usd(**usage: int) -> Decimal:
        return model_price.calc_price(Usage(**usage))["total_price"]

    uncached = usd(input_tokens=n)
    return LinearRates(
        uncached_input=float(uncached / n),
        # genai-prices counts cache reads inside input_tokens, as OpenAI and our events do.
        cached_input=float(usd(input_tokens=n, cache_read_tokens=n) / n),
        output=float((usd(input_tokens=n, output_tokens=n) - uncached) / n),
    )


_MISSING = object()
