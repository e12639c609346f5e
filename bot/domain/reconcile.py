"""Reconciliation: the ledger's estimated cost against what the providers billed, per provider and UTC day.

Gateways' (and our genai-prices) estimates drift from the bill; this shows by how much. The maths and the rendering
are pure; the I/O (billed days, and one grouped statement for
the estimate per provider and day) is bot.features.reconciliation.

The estimate of a provider is the cost of every usage event whose `provider` maps to it (LiteLLM's
`custom_llm_provider`, lower-cased at ingestion): "openai" and "text-completion-openai" are OpenAI; "anthropic" and
"anthropic_text" are Anthropic. Azure, Bedrock, Vertex AI and the like bill through the cloud, not through the
provider's cost endpoint, so they are shown as not reconciled under their own name, as are events without a
provider ("unknown")."""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.domain.format import usd
from bot.domain.pricing import MICROS_PER_USD

BILLED_PROVIDERS = ("openai", "anthropic")  # providers whose cost endpoint tokenbot reads
PROVIDER_ALIASES = {"openai": "openai", "text-completion-openai": "openai",
                    "anthropic": "anthropic", "anthropic_text": "anthropic"}
LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "unknown": "unknown"}
UNKNOWN = "unknown"


def bill_provider(provider: str | None) -> str:
    """The provider whose bill an event's cost belongs to; "unknown" for events without a provider."""
    if not provider:
        return UNKNOWN
    p = provider.strip().lower()
    return PROVIDER_ALIASES.get(p, p)


def label(provider: str) -> str:
    return LABELS.get(provider, provider)


@dataclass(frozen=True)
class Threshold:
    pct: float = 5.0
    min_micros: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> Threshold:
        return cls(pct=float(settings.reconcile_threshold_pct),
                   min_micros=round(float(settings.reconcile_min_usd) * MICROS_PER_USD))

    def limit_micros(self, billed_micros: int) -> int:
        return max(round(abs(billed_micros) * self.pct / 100), self.min_micros)

    def exceeded(self, estimated_micros: int, billed_micros: int) -> bool:
        return abs(estimated_micros - billed_micros) > self.limit_micros(billed_micros)

    def pct_text(self) -> str:
        return f"{self.pct:g}%"


@dataclass(frozen=True)
class DayLine:
    day: date
    estimated_micros: int
    billed_micros: int | None  # None: no bill figure read for that day
    events: int = 0
    unpriced: int = 0  # events without a known price: in `events`, not in the estimate
    flagged: bool = False

    @property
    def diff_micros(self) -> int | None:
        return None if self.billed_micros is None else self.estimated_micros - self.billed_micros

    @property
    def diff_pct(self) -> float | None:
        return _pct(self.estimated_micros, self.billed_micros)


@dataclass(frozen=True)
class ProviderReconciliation:
    provider: str
    days: tuple[DayLine, ...]
    total_flagged: bool  # the compared totals differ by more than the threshold

    @property
    def compared(self) -> tuple[DayLine, ...]:
        return tuple(d for d in self.days if d.billed_micros is not None)

    @property
    def flagged(self) -> tuple[DayLine, ...]:
        return tuple(d for d in self.days if d.flagged)

    @property
    def estimated_micros(self) -> int:  # over the days compared
        return sum(d.estimated_micros for d in self.compared)

    @property
    def billed_micros(self) -> int:
        return sum(d.billed_micros or 0 for d in self.compared)

    @property
    def diff_micros(self) -> int:
        return self.estimated_micros - self.billed_micros

    @property
    def diff_pct(self) -> float | None:
        return _pct(self.estimated_micros, self.billed_micros)

    @property
    def unbilled_estimate_micros(self) -> int:  # estimated on days without a bill figure
        return sum(d.estimated_micros for d in self.days if d.billed_micros is None)

    @property
    def unpriced(self) -> int:
        return sum(d.unpriced for d in self.days)


@dataclass(frozen=True)
class Unreconciled:
    provider: str  # "unknown" (no provider on the events) or a provider whose bill is not read (azure, bedrock, ...)
    estimated_micros: int
    events: int


@dataclass(frozen=True)
class Reconciliation:
    first_day: date
    last_day: date
    threshold: Threshold
    providers: tuple[ProviderReconciliation, ...]
    unreconciled: tuple[Unreconciled, ...] = field(default=())


def _pct(estimated: int, billed: int | None) -> float | None:
    if billed is None or billed == 0:
        return None
    return (estimated - billed) / billed * 100


def parse_month(text: str) -> date:
    """"2026-11" -> date(2026, 11, 1); ValueError otherwise."""
    try:
        d = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise ValueError(f"{text!r} is not a month like 2026-11") from None
    return date(d.year, d.month, 1)


def closed_days(month: date, today: date) -> tuple[date, date] | None:
    """The UTC days of `month` that have ended by `today` (first, last), or None if none has."""
    last = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
    last = min(last, today - timedelta(days=1))
    return (month, last) if last >= month else None


def day_start_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def reconcile(first_day: date, last_day: date, estimated: Iterable[Any], billed: dict[tuple[str, str], int],
              threshold: Threshold, only: str | None = None) -> Reconciliation:
    """Pure. `estimated`: rows with provider, day_index (days since first_day), cost_micros, events, unpriced (as
    storage.stores.billing.estimated_by_provider_day gives them); `billed`: (provider, "YYYY-MM-DD") -> micro-USD."""
    n_days = (last_day - first_day).days + 1
    est: dict[tuple[str, int], list[int]] = {}
    for row in estimated:
        if not 0 <= row.day_index < n_days:
            continue
        key = (bill_provider(row.provider), int(row.day_index))
        acc = est.setdefault(key, [0, 0, 0])
        acc[0] += int(row.cost_micros)
        acc[1] += int(row.events)
        acc[2] += int(row.unpriced)
    billed_names = set(BILLED_PROVIDERS) | {p for p, _ in billed}
    names = sorted(billed_names, key=lambda p: (p not in BILLED_PROVIDERS, BILLED_PROVIDERS.index(p)
                                                if p in BILLED_PROVIDERS else 0, p))
    providers = []
    for p in names:
        if only is not None and p != only:
            continue
        lines = []
        for i in range(n_days):
            day = first_day + timedelta(days=i)
            cost, events, unpriced = est.get((p, i), (0, 0, 0))
            bill = billed.get((p, day.isoformat()))
            lines.append(DayLine(day=day, estimated_micros=cost, billed_micros=bill, events=events, unpriced=unpriced,
                                 flagged=bill is not None and threshold.exceeded(cost, bill)))
        rec = ProviderReconciliation(provider=p, days=tuple(lines), total_flagged=False)
        total_flagged = bool(rec.compared) and threshold.exceeded(rec.estimated_micros, rec.billed_micros)
        providers.append(ProviderReconciliation(provider=p, days=rec.days, total_flagged=total_flagged))
    others: dict[str, list[int]] = {}
    for (p, _i), (cost, events, _u) in est.items():
        if p in billed_names or (only is not None and p != only):
            continue
        acc = others.setdefault(p, [0, 0])
        acc[0] += cost
        acc[1] += events
    unreconciled = tuple(Unreconciled(p, c, n) for p, (c, n) in sorted(others.items(), key=lambda kv: (kv[0] != UNKNOWN,
                                                                                                        kv[0])))
    return Reconciliation(first_day=first_day, last_day=last_day, threshold=threshold, providers=tuple(providers),
                          unreconciled=unreconciled)


# ---- rendering (pure) ----

def signed_usd(micros: int, minus: str = "-") -> str:
    return ("+" if micros >= 0 else minus) + usd(abs(micros))


def signed_pct(pct: float | None, minus: str = "-") -> str:
    if pct is None:
        return "n/a"
    return f"{'+' if pct >= 0 else minus}{abs(pct):.1f}%"


def span_text(first: date, last: date) -> str:
    """Nov 1–17 / Nov 1 / Oct 30–Nov 2."""
    a = f"{first:%b} {first.day}"
    if first == last:
        return a
    return f"{a}–{last.day}" if (first.year, first.month) == (last.year, last.month) else f"{a}–{last:%b} {last.day}"


def reconcile_plain(r: Reconciliation, all_days: bool = False) -> str:
    """The CLI's table: totals per provider, then the flagged days (every day with all_days)."""
    t = r.threshold
    out = [f"Gateway estimate vs provider bill, {r.first_day}..{r.last_day} (UTC days)",
           f"A day is flagged when the difference is more than {t.pct_text()} of the bill and more than "
           f"{usd(t.min_micros)}.", ""]
    head = f"{'provider':<10} {'days':>5} {'estimated':>13} {'billed':>13} {'difference':>13} {'diff %':>8}  flagged"
    out += [head, "-" * len(head)]
    for p in r.providers:
        n = len(p.compared)
        if not n:
            out.append(f"{label(p.provider):<10} {0:>5} {usd(p.unbilled_estimate_micros):>13} {'no bill read':>13}")
            continue
        mark = f"{len(p.flagged)} day{'s' if len(p.flagged) != 1 else ''}" + (" ⚠ total" if p.total_flagged else "")
        out.append(f"{label(p.provider):<10} {n:>5} {usd(p.estimated_micros):>13} {usd(p.billed_micros):>13} "
                   f"{signed_usd(p.diff_micros):>13} {signed_pct(p.diff_pct):>8}  {mark}")
    notes = []
    for p in r.providers:
        missing = [d for d in p.days if d.billed_micros is None]
        if p.compared and missing:
            notes.append(f"{label(p.provider)}: no bill read for {len(missing)} day(s) "
                         f"({', '.join(str(d.day) for d in missing[:5])}{', …' if len(missing) > 5 else ''}); "
                         f"estimated {usd(p.unbilled_estimate_micros)} on them, not compared")
        if p.unpriced:
            notes.append(f"{label(p.provider)}: {p.unpriced:,} event(s) without a known price are not in the estimate")
    for u in r.unreconciled:
        what = "events without a provider" if u.provider == UNKNOWN else "no bill read for this provider"
        notes.append(f"not reconciled: {label(u.provider)} ({what}): {usd(u.estimated_micros)} estimated, "
                     f"{u.events:,} event(s)")
    if notes:
        out += [""] + notes
    for title, pick in (("Flagged days", lambda d: d.flagged), ("Every day", lambda d: True)):
        if title == "Every day" and not all_days:
            continue
        rows = [(p, d) for p in r.providers for d in p.days if pick(d)]
        out += ["", f"{title}:" if rows else f"{title}: none"]
        if rows:
            out.append(f"  {'provider':<10} {'day':<10} {'estimated':>12} {'billed':>12} {'difference':>12} {'diff %':>8}")
            for p, d in rows:
                billed = "—" if d.billed_micros is None else usd(d.billed_micros)
                diff = "" if d.diff_micros is None else signed_usd(d.diff_micros)
                pct = "" if d.billed_micros is None else signed_pct(d.diff_pct)
                out.append(f"  {label(p.provider):<10} {d.day.isoformat():<10} {usd(d.estimated_micros):>12} "
                           f"{billed:>12} {diff:>12} {pct:>8}{'  ⚠' if d.flagged else ''}")
    return "\n".join(out)


def reconcile_summary_line(r: Reconciliation) -> str:
    """One line for the admin digest, e.g.
    "Gateway vs bill, Nov 1–17: OpenAI −3.2% (ok), Anthropic +11.8% ⚠ 2 days over 5%"."""
    parts = []
    for p in r.providers:
        if not p.compared:
            if p.unbilled_estimate_micros:
                parts.append(f"{label(p.provider)} no bill read")
            continue
        diff = (signed_pct(p.diff_pct, "−") if p.diff_pct is not None
                else f"{signed_usd(p.diff_micros, '−')} on a $0 bill")
        n = len(p.flagged)
        if n:
            status = f"⚠ {n} day{'s' if n != 1 else ''} over {r.threshold.pct_text()}"
        elif p.total_flagged:
            status = f"⚠ month to date over {r.threshold.pct_text()}"
        else:
            status = "(ok)"
        parts.append(f"{label(p.provider)} {diff} {status}")
    line = f"Gateway vs bill, {span_text(r.first_day, r.last_day)}: " + (", ".join(parts) if parts
                                                                           else "no provider bill read yet")
    unknown = next((u for u in r.unreconciled if u.provider == UNKNOWN), None)
    if unknown is not None and unknown.estimated_micros:
        line += f"; {usd(unknown.estimated_micros)} estimated on events without a provider"
    return line



__all__ = ["reconcile", "reconcile_plain", "reconcile_summary_line", "Reconciliation",
           "ProviderReconciliation", "DayLine", "Threshold", "bill_provider", "parse_month", "closed_days",
           "span_text"]


def overlap_lines(totals: Iterable[Any], month_label: str) -> list[str]:
    """Requests two sources both reported (org file `sources:`): counted once, from the authoritative source; the
    others' copies, with what they would have added. `totals`: OverlapTotal rows (source, counted_by, requests,
    cost_micros)."""
    lines = []
    for t in totals:
        lines.append(f"overlap {month_label}: {t.requests:,} requests ({usd(t.cost_micros)}) reported by "
                     f"{t.source} and counted from {t.counted_by} (org file `sources:`), not counted twice")
    return lines
