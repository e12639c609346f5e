"""Chargeback: a month's spend per team, person and model as FOCUS rows (`tokenbot export focus`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.focus import SpendLine, focus_rows
from bot.features.deps import Deps


@dataclass(frozen=True)
class FocusExport:
    month: str
    rows: list[dict[str, str]]
    total_micros: int  # what the rows bill, summed
    ledger_micros: int  # the same month from the team rollups: the two must agree


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """'2026-10' -> [2026-10-01, 2026-11-01) in UTC; ValueError for anything else."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


async def focus_export(deps: Deps, month: str) -> FocusExport:
    start, end = month_bounds(month)
    from_hour, to_hour = int(start.timestamp()) // 3600, int(end.timestamp()) // 3600
    pricer = deps.ledger.pricer
    lines = [SpendLine(**{**vars(line), "provider": pricer.provider_of(line.model)})
             for line in await deps.insights.spend_lines(from_hour, to_hour)]
    info = await deps.org.org_info()
    account = info.name or "tokenbot"
    rows = list(focus_rows(lines, start, end, account_id=account.lower().replace(" ", "-"), account_name=account))
    ledger = await deps.insights.total_cost(from_hour, to_hour)
    return FocusExport(month, rows, sum(line.cost_micros for line in lines), ledger)
