"""Steering figures on hand-made usage: which model replaces which, the share, the rest priced on the replacement."""
from __future__ import annotations

from bot.domain.alternatives import ModelUse
from bot.domain.org import PreferredModel, TeamSteering
from bot.domain.pricing import Pricer
from bot.domain.steering import figures, needs_nudge, replacement, steering_line

TS = 1_795_000_000
PREFERRED = (PreferredModel("claude-haiku-4-5", "agents", ("claude-sonnet-4-5",)), PreferredModel("gpt-4o-mini"))


def use(model: str, cost_usd: float, requests: int = 10) -> ModelUse:
    return ModelUse(model, requests, 50_000 * requests, 2_000 * requests, 0, round(cost_usd * 1e6))


def test_replacement_by_family_then_the_default() -> None:
    assert replacement("anthropic/claude-sonnet-4-5-20250929", PREFERRED) == "claude-haiku-4-5"
    assert replacement("gpt-4o", PREFERRED) == "gpt-4o-mini"
    assert replacement("gpt-4o-mini-2024-07-18", PREFERRED) is None  # a release of a preferred model is preferred


def test_share_and_the_rest_priced_on_the_replacements() -> None:
    pricer = Pricer()
    f = figures([use("claude-sonnet-4-5", 30.0), use("gpt-4o", 10.0), use("gpt-4o-mini", 10.0)], PREFERRED, pricer, TS)
    assert (f.total_micros, f.preferred_micros, f.other_micros) == (50_000_000, 10_000_000, 40_000_000)
    haiku = pricer.cost_micros("claude-haiku-4-5", None, 50_000, 2_000, 0, TS) * 10
    mini = pricer.cost_micros("gpt-4o-mini", None, 50_000, 2_000, 0, TS) * 10
    assert f.rest_on_preferred_micros == haiku + mini
    assert steering_line(f).startswith("*Preferred models*: 20% of spend ($10.00 of $50.00). The other $40.00")
    assert needs_nudge(f, TeamSteering(40)) and not needs_nudge(f, TeamSteering(80)) and not needs_nudge(f, None)
    assert not needs_nudge(figures([use("gpt-4o", 4.0)], PREFERRED, pricer, TS), TeamSteering(10))  # under $5
