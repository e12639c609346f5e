"""Budget maths: pure functions, no I/O. Money in integer micro-USD, time as aware datetimes."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Totals:
    cost_micros: int = 0
    tokens: int = 0
    requests: int = 0
    unpriced_requests: int = 0


@dataclass(frozen=True)
class Projection:
    daily_rate_micros: float  # at the trailing 7-day average
    month_end_micros: int
    runs_out_on: date | None  # local date the budget is used up at that rate, if before the month ends
    exhausted: bool


@dataclass(frozen=True)
class BudgetLine:
    label: str
    budget_micros: int
    spent_micros: int
    projection: Projection

    @property
    def fraction(self) -> float:
        return self.spent_micros / self.budget_micros if self.budget_micros > 0 else (1.0 if self.spent_micros else 0.0)

    @property
    def remaining_micros(self) -> int:
        return self.budget_micros - self.spent_micros


def month_start(now_local: datetime) -> datetime:
    return now_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now_local: datetime) -> datetime:
    days = calendar.monthrange(now_local.year, now_local.month)[1]
    return (month_start(now_local) + timedelta(days=days + 1)).replace(day=1)


def day_start(now_local: datetime, days_back: int = 0) -> datetime:
    """Local midnight `days_back` calendar days ago (re-localised, so DST days are 23 or 25 hours long)."""
    d = now_local.date() - timedelta(days=days_back)
    return datetime(d.year, d.month, d.day, tzinfo=now_local.tzinfo)


def real_seconds(start: datetime, end: datetime) -> float:
    """Elapsed seconds. (Subtracting two datetimes in one ZoneInfo gives wall-clock time, wrong on DST days.)"""
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()


def project(month_spent_micros: int, last7_micros: int, now_local: datetime, budget_micros: int | None) -> Projection:
    """Month-end spend and run-out date at the trailing 7-day burn rate.

    The 7-day window is today plus the six days before it, so its length in days is 6 plus the part of today
    that has passed; averaging over that, not 7, keeps a Monday-morning rate from reading low."""
    elapsed_days = 6 + real_seconds(day_start(now_local), now_local) / 86400
    rate = last7_micros / elapsed_days if elapsed_days > 0 else 0.0
    month_end = next_month_start(now_local)
    remaining_days = real_seconds(now_local, month_end) / 86400
    projected = month_spent_micros + round(rate * remaining_days)
    runs_out_on = None
    exhausted = budget_micros is not None and month_spent_micros >= budget_micros
    if budget_micros is not None and not exhausted and rate > 0:
        days_left = (budget_micros - month_spent_micros) / rate
        if days_left < remaining_days:
            runs_out_on = (now_local + timedelta(days=days_left)).date()
    return Projection(daily_rate_micros=rate, month_end_micros=projected, runs_out_on=runs_out_on, exhausted=exhausted)


# The effective budget: the one rule every view, warning, digest and the gateway's check use.
def effective_budget(org_file_micros: int | None, raised_micros: int) -> int | None:
    """The org file's monthly budget plus the raises approved for this month (permanent ones and this month's);
    None when the org file sets no budget (a raise never creates one)."""
    return None if org_file_micros is None else org_file_micros + raised_micros


def raised_in(raises: dict[tuple[str, int, str | None], int], scope: str, subject_id: int, month: str) -> int:
    """Of all approved raises, keyed (scope, subject, month or None for permanent), those that apply in `month`."""
    return raises.get((scope, subject_id, None), 0) + raises.get((scope, subject_id, month), 0)


def budget_line(label: str, org_file_micros: int | None, raised_micros: int, month_spent_micros: int,
                last7_micros: int, now_local: datetime) -> BudgetLine | None:
    """A budget line with its projection, or None without a budget."""
    budget = effective_budget(org_file_micros, raised_micros)
    if budget is None:
        return None
    return BudgetLine(label, budget, month_spent_micros, project(month_spent_micros, last7_micros, now_local, budget))
