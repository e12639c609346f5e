"""Cost per outcome: what the spend bought, per person or team over 7 and 30 days. Pure: figures in, figures and text
out. Spend per merged PR and per deploy always come with the revert rate beside them, so cheap-but-reverted work does
not look good; and nothing here ranks people by tokens."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.format import escape, usd
from bot.domain.outcomes import DEPLOY, PR_MERGED, REVERT

WINDOWS = (7, 30)  # days


@dataclass(frozen=True)
class OutcomeCount:
    count: int = 0
    reverted: int = 0  # of `count`, how many a later revert undid


@dataclass(frozen=True)
class Impact:
    days: int
    spend_micros: int
    merged_prs: int = 0
    reverted_prs: int = 0
    deploys: int = 0
    other: tuple[tuple[str, int], ...] = ()  # other outcome kinds (pushes, reverts, tickets closed...), by kind

    @property
    def per_pr_micros(self) -> int | None:
        return self.spend_micros // self.merged_prs if self.merged_prs else None

    @property
    def per_deploy_micros(self) -> int | None:
        return self.spend_micros // self.deploys if self.deploys else None

    @property
    def revert_rate(self) -> float | None:
        return self.reverted_prs / self.merged_prs if self.merged_prs else None

    @property
    def outcomes(self) -> int:
        return self.merged_prs + self.deploys + sum(n for _k, n in self.other)


def window_hours(now_hour: int, days: int) -> tuple[int, int]:
    """[first hour, last hour] of the trailing `days` x 24 hours ending with the current hour (epoch hours)."""
    return now_hour - days * 24 + 1, now_hour


def impact_of(days: int, spend_micros: int, counts: Mapping[str, OutcomeCount]) -> Impact:
    """One window's spend and outcome counts by kind -> the figures shown."""
    pr = counts.get(PR_MERGED, OutcomeCount())
    other = tuple(sorted((k, c.count) for k, c in counts.items() if k not in (PR_MERGED, DEPLOY) and c.count))
    return Impact(days=days, spend_micros=spend_micros, merged_prs=pr.count, reverted_prs=pr.reverted,
                  deploys=counts.get(DEPLOY, OutcomeCount()).count, other=other)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def kind_label(kind: str, n: int) -> str:
    if kind == REVERT:
        return _plural(n, "revert")
    if kind == "push":
        return _plural(n, "commit") + " pushed"
    if kind == "pull_request":  # Claude Code's own counter (OTLP): pull requests it opened
        return _plural(n, "PR") + " opened with Claude Code"
    if kind == "commit":
        return _plural(n, "commit") + " by Claude Code"
    return f"{n:,} × {escape(kind.replace('_', ' '))}"


def outcomes_text(i: Impact) -> str:
    """What the spend bought, without the spend: `4 merged PRs (1 reverted) · 2 deploys · 3 commits pushed`."""
    parts = []
    if i.merged_prs:
        parts.append(_plural(i.merged_prs, "merged PR") + (f" ({i.reverted_prs:,} reverted)" if i.reverted_prs else ""))
    if i.deploys:
        parts.append(_plural(i.deploys, "deploy"))
    parts += [kind_label(k, n) for k, n in i.other]
    return " · ".join(parts) if parts else "no recorded outcomes"


def cost_per_outcome_text(i: Impact) -> str:
    """`$120.00 · 4 merged PRs, $30.00 each, 25% reverted · 2 deploys, $60.00 each`."""
    parts = [usd(i.spend_micros)]
    if i.merged_prs:
        rate = i.revert_rate or 0.0
        parts.append(f"{_plural(i.merged_prs, 'merged PR')}, {usd(i.per_pr_micros or 0)} each, "
                     f"{rate * 100:.0f}% reverted" + (f" ({i.reverted_prs:,})" if i.reverted_prs else ""))
    if i.deploys:
        parts.append(f"{_plural(i.deploys, 'deploy')}, {usd(i.per_deploy_micros or 0)} each")
    parts += [kind_label(k, n) for k, n in i.other]
    if not i.outcomes:
        parts.append("no recorded outcomes")
    return " · ".join(parts)


def impact_lines(impacts: tuple[Impact, ...]) -> str:
    """One line per window: `*Last 7 days*: …` then `*Last 30 days*: …`."""
    return "\n".join(f"*Last {i.days} days*: {cost_per_outcome_text(i)}" for i in impacts)


__all__ = ["Impact", "OutcomeCount", "WINDOWS", "cost_per_outcome_text", "impact_lines", "impact_of",
           "outcomes_text", "window_hours"]
