from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.budget import real_seconds, day_start, next_month_start, project
from bot.domain.format import bar, tokens, usd

BERLIN = ZoneInfo("Europe/Berlin")


def test_projection_at_the_trailing_seven_day_rate() -> None:
    now = datetime(2026, 11, 18, 12, 0, tzinfo=BERLIN)  # 6.5 days in the 7-day window, 12.5 days left
    p = project(month_spent_micros=50_000_000, last7_micros=65_000_000, now_local=now, budget_micros=100_000_000)
    assert p.daily_rate_micros == 10_000_000
    assert p.month_end_micros == 50_000_000 + 125_000_000
    assert p.runs_out_on == date(2026, 11, 23)  # $50 left at $10/day: 5 days
    assert not p.exhausted


def test_budget_that_lasts_the_month_has_no_run_out_date() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN)
    p = project(10_000_000, 7_000_000, now, 100_000_000)
    assert p.runs_out_on is None and not p.exhausted


def test_exhausted_budget() -> None:
    p = project(120_000_000, 70_000_000, datetime(2026, 11, 18, tzinfo=BERLIN), 100_000_000)
    assert p.exhausted and p.runs_out_on is None


def test_projection_on_a_dst_day_uses_real_hours() -> None:
    now = datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN)  # 13 real hours since midnight
    p = project(0, 6_000_000 * 24 + 13 * 1_000_000, now, None)  # $24/day for 6 days + $1/hour today
    assert p.daily_rate_micros == (144_000_000 + 13_000_000) / (6 + 13 / 24)


def test_no_spend_projects_zero() -> None:
    p = project(0, 0, datetime(2026, 11, 1, 0, 5, tzinfo=BERLIN), 100)
    assert (p.daily_rate_micros, p.month_end_micros, p.runs_out_on) == (0, 0, None)


def test_days_follow_local_midnight_across_dst() -> None:
    # 2026-10-25 is 25 hours long in Berlin (clocks go back): "today" still starts at local midnight.
    now = datetime(2026, 10, 25, 23, 0, tzinfo=BERLIN)
    start = day_start(now)
    assert start == datetime(2026, 10, 25, tzinfo=BERLIN)
    assert real_seconds(start, now) == 24 * 3600  # 23:00 local is 24 real hours after midnight that day
    assert next_month_start(now) == datetime(2026, 11, 1, tzinfo=BERLIN)
    assert next_month_start(datetime(2026, 12, 31, 23, tzinfo=BERLIN)) == datetime(2027, 1, 1, tzinfo=BERLIN)


def test_formatting() -> None:
    assert usd(1_234_567_891) == "$1,234.57"
    assert bar(0.5) == "█" * 10 + "░" * 10
    assert bar(1.7) == "█" * 20 and bar(-1) == "░" * 20  # every bar is 20 cells, whatever the fraction
    assert tokens(1_250_000) == "1.25M" and tokens(1_954_974) == "1.95M" and tokens(3_000) == "3k"
    assert tokens(999) == "999" and tokens(999_999) == "1M" and tokens(12_345) == "12.3k"
    assert tokens(123_456_789) == "123M" and tokens(7_100_000_000) == "7.1B"
