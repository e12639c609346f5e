"""Cheaper models for the same work, priced with genai-prices: advice for `/tokens models`, never enforcement."""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.pricing import Pricer

# A smaller sibling in the same family: the switch a team can make without changing provider or prompts much.
CHEAPER = {
    "gpt-4o": "gpt-4o-mini", "gpt-4.1": "gpt-4.1-mini", "gpt-4.1-mini": "gpt-4.1-nano", "gpt-5": "gpt-5-mini",
    "gpt-5-mini": "gpt-5-nano", "o3": "o4-mini", "o1": "o3-mini", "gpt-4-turbo": "gpt-4o-mini",
    "claude-opus-4-1": "claude-sonnet-4-5", "claude-opus-4": "claude-sonnet-4", "claude-sonnet-4-5": "claude-haiku-4-5",
    "claude-sonnet-4": "claude-3-5-haiku", "claude-3-7-sonnet": "claude-3-5-haiku",
    "gemini-2.5-pro": "gemini-2.5-flash", "gemini-2.5-flash": "gemini-2.5-flash-lite",
}


@dataclass(frozen=True)
class ModelUse:
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micros: int


@dataclass(frozen=True)
class Alternative:
    model: str
    cost_micros: int  # what the same usage would have cost on it

    def saving(self, actual_micros: int) -> int:
        return actual_micros - self.cost_micros


# A dated or pinned release of a model: "gpt-4o-2024-08-06", "claude-sonnet-4-20250514", "gpt-4o-latest".
_RELEASE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest|preview)$")


def model_family(model: str) -> str:
    """The family a model name belongs to, for the table above: provider prefix and release suffix removed, nothing
    else. (A prefix match would make "gpt-4o-mini" a release of "gpt-4o" and offer it as its own cheaper sibling.)"""
    return _RELEASE_SUFFIX.sub("", model.split("/")[-1].lower())


def cheaper_alternative(use: ModelUse, pricer: Pricer, ts: int) -> Alternative | None:
    """Price the same requests on the cheaper sibling. Requests are priced at their average size, so tiered
    (long-context) prices apply as they would have per request."""
    target = CHEAPER.get(model_family(use.model))
    if target is None or use.requests <= 0:
        return None
    per_request = pricer.cost_micros(target, None, use.input_tokens // use.requests, use.output_tokens // use.requests,
                                     use.cached_input_tokens // use.requests, ts)
    if per_request is None:
        return None
    cost = per_request * use.requests
    return Alternative(target, cost) if cost < use.cost_micros else None
