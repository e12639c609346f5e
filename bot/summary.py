"""A person's (or team's) usage summary from hourly rollup rows: pure, so it is tested without a database."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.budget import Totals, day_start, month_start
from storage.ledger import HourlyRow


@dataclass(frozen=True)
class UsageSummary:
    now_local: datetime
    today: Totals
    last7: Totals
    month: Totals
    top_models: list[tuple[str, Totals]]  # this month, by cost


@dataclass(frozen=True)
class Windows:
    """The hour ranges (epoch hours, UTC) a summary needs."""

    now_local: datetime
    today_hour: int
    last7_hour: int
    month_hour: int
    now_hour: int

    @property
    def first_hour(self) -> int:
        return min(self.last7_hour, self.month_hour)


def windows(now: datetime, timezone: str) -> Windows:
    now_local = now.astimezone(ZoneInfo(timezone))

    def hour(dt: datetime) -> int:
        return int(dt.timestamp()) // 3600

    return Windows(now_local=now_local, today_hour=hour(day_start(now_local)), last7_hour=hour(day_start(now_local, 6)),
                   month_hour=hour(month_start(now_local)), now_hour=hour(now))


def summarize(rows: Sequence[HourlyRow], w: Windows, top: int = 3) -> UsageSummary:
    sums = {"today": [0, 0, 0, 0], "last7": [0, 0, 0, 0], "month": [0, 0, 0, 0]}
    models: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        if r.hour > w.now_hour:
            continue
        values = (r.cost_micros, r.input_tokens + r.output_tokens, r.requests, r.unpriced_requests)
        targets = []
        if r.hour >= w.month_hour:
            targets.append(sums["month"])
            targets.append(models[r.model])
        if r.hour >= w.last7_hour:
            targets.append(sums["last7"])
        if r.hour >= w.today_hour:
            targets.append(sums["today"])
        for acc in targets:
            for i, v in enumerate(values):
                acc[i] += v
    ranked = sorted(models.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:top]
    return UsageSummary(now_local=w.now_local, today=Totals(*sums["today"]), last7=Totals(*sums["last7"]),
                        month=Totals(*sums["month"]), top_models=[(m, Totals(*v)) for m, v in ranked])
