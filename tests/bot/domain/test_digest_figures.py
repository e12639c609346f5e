"""A team's digest figures from rollup rows (pure, no database): yesterday in the team's local day, the 7-day
average before it, month to date, the budget line and the chart's 30 days."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.digest_figures import compute_figures, data_from_hour, digest_moment, hour_of

BERLIN = ZoneInfo("Europe/Berlin")
AS_OF = digest_moment(date(2026, 11, 18), "09:00", BERLIN)


def row(local: datetime, model: str, cost: int, tokens: int = 10) -> tuple:
    # (hour, model, requests, input, output, cached, cost, unpriced)
    return (hour_of(local), model, 1, tokens, 0, 0, cost, 0)


def test_yesterday_is_the_local_day_and_the_average_is_the_seven_days_before() -> None:
    rows = [row(datetime(2026, 11, 17, 0, 30, tzinfo=BERLIN), "gpt-4o", 3_000_000),  # 23:30 UTC on the 16th
            row(datetime(2026, 11, 17, 23, 10, tzinfo=BERLIN), "claude-haiku-4-5", 1_000_000),
            row(datetime(2026, 11, 18, 8, 0, tzinfo=BERLIN), "gpt-4o", 50_000_000)]  # today: not yesterday
    rows += [row(datetime(2026, 11, d, 12, tzinfo=BERLIN), "gpt-4o", 2_000_000) for d in range(10, 17)]
    rows += [row(datetime(2026, 10, 31, 12, tzinfo=BERLIN), "gpt-4o", 99_000_000)]  # last month
    f = compute_figures(team_name="Platform", digest_date=date(2026, 11, 18), as_of=AS_OF, rows=rows,
                        budget_micros=300_000_000, spenders=None, active_people=2, pending_requests=1)
    assert f.yesterday.cost_micros == 4_000_000 and f.yesterday.requests == 2
    assert f.avg7_cost_micros == 2_000_000 and round(f.change, 2) == 1.0  # twice the usual
    assert f.month.cost_micros == 4_000_000 + 7 * 2_000_000 + 50_000_000  # to the digest moment, not October
    assert [m for m, _ in f.top_models] == ["gpt-4o", "claude-haiku-4-5"]
    assert f.budget is not None and f.budget.budget_micros == 300_000_000
    assert f.daily_budget_micros == 10_000_000  # $300 over November's 30 days
    assert len(f.daily) == 30 and f.daily[-1] == (date(2026, 11, 17), 4_000_000)
    assert f.daily[0][0] == date(2026, 10, 19)
    assert data_from_hour(date(2026, 11, 18), BERLIN) <= hour_of(datetime(2026, 10, 18, tzinfo=BERLIN))


def test_a_digest_time_in_the_spring_forward_gap_resolves_forwards() -> None:
    moment = digest_moment(date(2026, 3, 29), "02:30", BERLIN)
    assert (moment.hour, moment.minute, moment.utcoffset().total_seconds()) == (3, 30, 7200)
