"""The figures of a team's daily digest, computed from hourly rollup rows: pure, no I/O."""
from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.budget import BudgetLine, Totals, day_start, month_start, project
from bot.domain.impact import Impact

CHART_DAYS = 30
AVG_DAYS = 7
TOP_MODELS = 3
TOP_SPENDERS = 5


@dataclass(frozen=True)
class SpenderLine:
    name: str
    slack_user_id: str | None
    cost_micros: int
    tokens: int
    shipped: Impact | None = None  # their last 7 days: spend beside what it bought (never spend alone)


@dataclass(frozen=True)
class DigestFigures:
    team_name: str
    digest_date: date  # the local day the digest is for (it reports the day before)
    as_of: datetime  # local: the digest moment (month to date and projections are as of then)
    yesterday: Totals
    avg7_cost_micros: float  # average daily spend of the 7 days before yesterday
    avg7_tokens: float
    month: Totals
    budget: BudgetLine | None
    top_models: list[tuple[str, Totals]]  # yesterday's, by cost
    spenders: list[SpenderLine] | None  # None: the team does not name top spenders
    active_people: int  # people who used AI yesterday
    pending_requests: int
    daily: list[tuple[date, int]]  # the last CHART_DAYS days up to yesterday, cost per local day
    daily_budget_micros: float | None  # the month's budget spread evenly over its days (the chart's line)
    impact: tuple[Impact, ...] = ()  # the team's cost per outcome over 7 and 30 days (bot.domain.impact)
    steering: str | None = None  # the preferred-models line (bot.domain.steering), when the org file names any

    @property
    def yesterday_date(self) -> date:
        return self.digest_date - timedelta(days=1)

    @property
    def change(self) -> float | None:
        """Yesterday against the trailing 7-day average, as a fraction (+0.25 = 25% more); None without history."""
        if self.avg7_cost_micros <= 0:
            return None
        return self.yesterday.cost_micros / self.avg7_cost_micros - 1


def digest_moment(local_day: date, digest_time: str, tz: ZoneInfo) -> datetime:
    """The aware local datetime of a team's digest on `local_day`. A time that does not exist that day (the DST gap)
    resolves forwards (02:30 on a spring-forward night is 03:30 local), one that exists twice resolves to the first."""
    hh, mm = (int(x) for x in digest_time.split(":"))
    naive = datetime.combine(local_day, time(hh, mm))
    first = naive.replace(tzinfo=tz, fold=0)
    # Round-trip through UTC normalises a non-existent wall time to the real instant.
    return first.astimezone(ZoneInfo("UTC")).astimezone(tz)


def hour_of(dt: datetime) -> int:
    return int(dt.timestamp()) // 3600


def data_from_hour(digest_date: date, tz: ZoneInfo) -> int:
    """First epoch hour the digest needs: the chart's first day, which is also before the month's start."""
    first = digest_date - timedelta(days=CHART_DAYS + 1)
    return hour_of(datetime.combine(first, time(0), tzinfo=tz))


def compute_figures(*, team_name: str, digest_date: date, as_of: datetime, rows: Iterable[Sequence],
                    budget_micros: int | None, spenders: list[SpenderLine] | None, active_people: int,
                    pending_requests: int) -> DigestFigures:
    """`rows` are the team's rollup rows (hour, model, requests, input, output, cached, cost, unpriced) from
    `data_from_hour` to the hour of `as_of` (exclusive); `as_of` is local."""
    tz = as_of.tzinfo
    assert isinstance(tz, ZoneInfo)
    yesterday = digest_date - timedelta(days=1)
    as_of_hour = hour_of(as_of)
    month_hour = hour_of(month_start(as_of))
    last7_hour = hour_of(day_start(as_of, 6))
    day_cache: dict[int, date] = {}
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # cost, tokens, requests, unpriced
    y_models: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    month = [0, 0, 0, 0]
    last7 = 0
    for r in rows:
        hour, model = r[0], r[1]
        if hour >= as_of_hour:
            continue
        requests, inp, out, cost, unpriced = r[2], r[3], r[4], r[6], r[7]
        values = (cost, inp + out, requests, unpriced)
        day = day_cache.get(hour)
        if day is None:
            day = day_cache[hour] = datetime.fromtimestamp(hour * 3600, tz).date()
        acc = per_day[day]
        for i, v in enumerate(values):
            acc[i] += v
        if day == yesterday:
            m = y_models[model]
            for i, v in enumerate(values):
                m[i] += v
        if hour >= month_hour:
            for i, v in enumerate(values):
                month[i] += v
        if hour >= last7_hour:
            last7 += cost
    y = per_day.get(yesterday, [0, 0, 0, 0])
    before = [per_day.get(yesterday - timedelta(days=n), [0, 0, 0, 0]) for n in range(1, AVG_DAYS + 1)]
    budget = None
    daily_budget = None
    if budget_micros is not None:
        budget = BudgetLine("Team budget", budget_micros, month[0], project(month[0], last7, as_of, budget_micros))
        daily_budget = budget_micros / calendar.monthrange(as_of.year, as_of.month)[1]
    ranked = sorted(y_models.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    return DigestFigures(
        team_name=team_name, digest_date=digest_date, as_of=as_of, yesterday=Totals(*y),
        avg7_cost_micros=sum(b[0] for b in before) / AVG_DAYS, avg7_tokens=sum(b[1] for b in before) / AVG_DAYS,
        month=Totals(*month), budget=budget,
        top_models=[(m, Totals(*v)) for m, v in ranked if v[0] > 0 or v[1] > 0][:TOP_MODELS],
        spenders=None if spenders is None else spenders[:TOP_SPENDERS], active_people=active_people,
        pending_requests=pending_requests,
        daily=[(d, per_day.get(d, [0])[0]) for d in (yesterday - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1))],
        daily_budget_micros=daily_budget)
