"""Where a reconciliation gap comes from: the estimate against the bill per provider, model and billing dimension
(text, cache, audio, tools, batch), so an admin reads "the cache-write price of claude-sonnet-4 is stale" rather than
"Anthropic is 5% off". Pure: the rows come from storage.stores.billing (estimated_lines, billed_lines)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.domain.format import usd
from bot.domain.reconcile import BILLED_PROVIDERS, bill_provider, label, signed_pct, signed_usd

UNSPLIT = "text"  # a gateway event's cost has no split by dimension: counted as text


@dataclass(frozen=True)
class GapLine:
    provider: str
    model: str
    dimension: str
    estimated_micros: int
    billed_micros: int | None  # None: the bill has no line for this model and dimension

    @property
    def diff_micros(self) -> int:
        return self.estimated_micros - (self.billed_micros or 0)

    @property
    def diff_pct(self) -> float | None:
        if not self.billed_micros:
            return None
        return self.diff_micros / self.billed_micros * 100


def breakdown(estimated: Iterable[tuple[str | None, str, dict | None, int]],
              billed: Iterable[tuple[str, str, str, int]]) -> list[GapLine]:
    """estimated: (provider, model, cost by dimension or None, cost) per event or per gateway group; billed:
    (provider, model, dimension, micros). Only providers whose bill is read; largest gap first."""
    est: dict[tuple[str, str, str], int] = defaultdict(int)
    for provider, model, parts, cost in estimated:
        p = bill_provider(provider)
        if p not in BILLED_PROVIDERS:
            continue
        if parts:
            for dimension, micros in parts.items():
                est[(p, model, dimension)] += int(micros)
        elif cost:
            est[(p, model, UNSPLIT)] += cost
    bill: dict[tuple[str, str, str], int] = defaultdict(int)
    for provider, model, dimension, micros in billed:
        bill[(provider, model, dimension)] += micros
    lines = [GapLine(p, m, d, est.get((p, m, d), 0), bill.get((p, m, d))) for p, m, d in set(est) | set(bill)]
    return sorted(lines, key=lambda g: (BILLED_PROVIDERS.index(g.provider), -abs(g.diff_micros), g.model, g.dimension))


def by_dimension(lines: Iterable[GapLine]) -> list[GapLine]:
    """The same gaps summed over models: one line per provider and dimension."""
    acc: dict[tuple[str, str], list[int | None]] = {}
    for g in lines:
        a = acc.setdefault((g.provider, g.dimension), [0, None])
        a[0] += g.estimated_micros
        if g.billed_micros is not None:
            a[1] = (a[1] or 0) + g.billed_micros
    out = [GapLine(p, "(all models)", d, e, b) for (p, d), (e, b) in acc.items()]
    return sorted(out, key=lambda g: (BILLED_PROVIDERS.index(g.provider), -abs(g.diff_micros), g.dimension))


def breakdown_plain(first: date, last: date, lines: list[GapLine]) -> str:
    if not lines:
        return (f"Breakdown {first}..{last}: no bill read per model and dimension yet (run `tokenbot poll "
                "openai-costs` / `anthropic-costs`)")
    out = [f"Where the gap comes from, {first}..{last}: estimate vs bill per billing dimension, then per model",
           "(a model and dimension the bill does not name shows billed as —)", ""]
    head = f"  {'provider':<10} {'model':<34} {'dimension':<9} {'estimated':>12} {'billed':>12} {'difference':>12} {'diff %':>8}"
    for title, rows in (("Per dimension:", by_dimension(lines)), ("Per model and dimension:", lines)):
        out += [title, head]
        for g in rows:
            billed = "—" if g.billed_micros is None else usd(g.billed_micros)
            out.append(f"  {label(g.provider):<10} {(g.model or '(no model)')[:34]:<34} {g.dimension:<9} "
                       f"{usd(g.estimated_micros):>12} {billed:>12} {signed_usd(g.diff_micros):>12} "
                       f"{signed_pct(g.diff_pct):>8}")
        out.append("")
    return "\n".join(out).rstrip()


__all__ = ["GapLine", "breakdown", "by_dimension", "breakdown_plain"]
