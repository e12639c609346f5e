"""Steering to preferred models: the share of spend already on the org file's preferred models, and what the rest
would have cost on them (priced with the Pricer, org file price overrides included, so an in-house model's own
`prices:` entry is what counts). Pure: usage in, figures out."""
from __future__ import annotations

from dataclasses import dataclass

from bot.domain.alternatives import ModelUse, model_family
from bot.domain.format import escape, usd
from bot.domain.org import PreferredModel, TeamSteering
from bot.domain.pricing import Pricer

MIN_NUDGE_MICROS = 5_000_000  # under $5 a month on other models is not worth a DM


@dataclass(frozen=True)
class Rest:
    model: str
    cost_micros: int
    preferred: str
    on_preferred_micros: int | None  # None: the preferred model has no known price


@dataclass(frozen=True)
class SteeringFigures:
    total_micros: int
    preferred_micros: int
    rest: tuple[Rest, ...]  # spend on other models, largest first

    @property
    def other_micros(self) -> int:
        return self.total_micros - self.preferred_micros

    @property
    def preferred_share(self) -> float:
        return self.preferred_micros / self.total_micros if self.total_micros else 1.0

    @property
    def rest_on_preferred_micros(self) -> int:
        """What the priced part of the rest would have cost on its preferred replacements."""
        return sum(r.on_preferred_micros for r in self.rest if r.on_preferred_micros is not None)

    @property
    def rest_priced_micros(self) -> int:
        return sum(r.cost_micros for r in self.rest if r.on_preferred_micros is not None)


def replacement(model: str, preferred: tuple[PreferredModel, ...]) -> str | None:
    """The preferred model that replaces `model`: the one whose `replaces:` names its family, else the first preferred
    model that names none (a general default); None if `model` is itself preferred."""
    family = model_family(model)
    names = {p.model for p in preferred}
    if model.lower() in names or family in names:
        return None
    for p in preferred:
        if family in p.replaces or model.lower() in p.replaces:
            return p.model
    return next((p.model for p in preferred if not p.replaces), None)


def figures(uses: list[ModelUse], preferred: tuple[PreferredModel, ...], pricer: Pricer, ts: int) -> SteeringFigures:
    names = {p.model for p in preferred}
    total = preferred_spend = 0
    rest: list[Rest] = []
    for u in uses:
        total += u.cost_micros
        if u.model.lower() in names or model_family(u.model) in names:
            preferred_spend += u.cost_micros
            continue
        target = replacement(u.model, preferred)
        if target is None or u.cost_micros <= 0:
            continue
        on = None
        if u.requests > 0:  # priced per request at the average size, so tiered prices apply as they would have
            per = pricer.cost_micros(target, None, u.input_tokens // u.requests, u.output_tokens // u.requests,
                                     u.cached_input_tokens // u.requests, ts)
            on = per * u.requests if per is not None else None
        rest.append(Rest(u.model, u.cost_micros, target, on))
    rest.sort(key=lambda r: (-r.cost_micros, r.model))
    return SteeringFigures(total, preferred_spend, tuple(rest))


def steering_line(f: SteeringFigures) -> str | None:
    """One mrkdwn line for `/tokens me`, `/tokens team`, the digest and App Home; None without spend."""
    if f.total_micros <= 0:
        return None
    text = (f"*Preferred models*: {f.preferred_share * 100:.0f}% of spend ({usd(f.preferred_micros)} of "
            f"{usd(f.total_micros)}).")
    if f.rest_priced_micros:
        top = f.rest[0]
        text += (f" The other {usd(f.rest_priced_micros)} would have cost {usd(f.rest_on_preferred_micros)} on the "
                 f"preferred models (most of it `{escape(top.model)}` → `{escape(top.preferred)}`).")
    return text


def needs_nudge(f: SteeringFigures, steering: TeamSteering | None) -> bool:
    """A person whose share on other models is over their team's line (and worth a message)."""
    if steering is None or f.total_micros <= 0 or f.other_micros < MIN_NUDGE_MICROS:
        return False
    return f.other_micros * 100 > steering.other_share_pct * f.total_micros


def nudge_text(f: SteeringFigures, month: str, preferred: tuple[PreferredModel, ...], steering: TeamSteering) -> str:
    """The friendly monthly DM: the numbers, what the preferred models are for, no blame."""
    lines = [f":compass: A friendly note about {month}: {100 - f.preferred_share * 100:.0f}% of your AI spend "
             f"({usd(f.other_micros)} of {usd(f.total_micros)}) went to models other than the ones your organisation "
             f"prefers (your team's line is {steering.other_share_pct}%)."]
    if f.rest_priced_micros:
        lines.append(f"The same requests would have cost about {usd(f.rest_on_preferred_micros)} instead of "
                     f"{usd(f.rest_priced_micros)} on the preferred models:")
        for r in f.rest[:3]:
            if r.on_preferred_micros is not None:
                lines.append(f"• `{escape(r.model)}` {usd(r.cost_micros)} → `{escape(r.preferred)}` "
                             f"{usd(r.on_preferred_micros)}")
    for p in preferred:
        lines.append(f"• `{escape(p.model)}`" + (f" is preferred for {escape(p.purpose)}" if p.purpose else
                                                  " is preferred"))
    lines.append("No action needed if the other models were the right tool; this note comes at most once a month.")
    return "\n".join(lines)
