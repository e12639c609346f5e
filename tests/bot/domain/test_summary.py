"""The usage summary and the effective budget, from rollup rows: pure, no database."""
from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.budget import Totals, budget_line, effective_budget, raised_in
from bot.domain.summary import summarize, windows

NOW = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)  # 15:30 in Berlin


def test_windows_start_at_local_midnight_and_the_first_of_the_month() -> None:
    w = windows(NOW, "Europe/Berlin")
    assert w.now_local.hour == 15
    assert datetime.fromtimestamp(w.today_hour * 3600, UTC) == datetime(2026, 11, 17, 23, tzinfo=UTC)
    assert datetime.fromtimestamp(w.last7_hour * 3600, UTC) == datetime(2026, 11, 11, 23, tzinfo=UTC)
    assert datetime.fromtimestamp(w.month_hour * 3600, UTC) == datetime(2026, 10, 31, 23, tzinfo=UTC)


def test_summary_adds_models_per_window_and_ranks_top_models_by_month_cost() -> None:
    w = windows(NOW, "Europe/Berlin")
    # per model: (today, last 7 days, month), each (cost_micros, tokens, requests, unpriced_requests)
    by_model = {"gpt-4o": [(1_000_000, 10, 1, 0), (5_000_000, 50, 5, 0), (9_000_000, 90, 9, 0)],
                "claude-haiku": [(0, 0, 0, 0), (0, 0, 0, 0), (9_000_000, 900, 30, 0)],
                "mystery": [(0, 5, 1, 1), (0, 5, 1, 1), (0, 5, 1, 1)]}
    s = summarize(by_model, w, top=2)
    assert s.today == Totals(1_000_000, 15, 2, 1)
    assert s.last7 == Totals(5_000_000, 55, 6, 1)
    assert s.month == Totals(18_000_000, 995, 40, 1)
    # Equal cost: more tokens first. An unpriced model is never a "top model" by cost ($0 ranks last).
    assert [m for m, _ in s.top_models] == ["claude-haiku", "gpt-4o"]


def test_effective_budget_is_the_org_file_plus_raises_that_apply_this_month() -> None:
    raises = {("team", 1, None): 100, ("team", 1, "2026-11"): 20, ("team", 1, "2026-10"): 999, ("person", 1, None): 7}
    assert raised_in(raises, "team", 1, "2026-11") == 120  # permanent + this month's, not October's
    assert effective_budget(1_000, raised_in(raises, "team", 1, "2026-11")) == 1_120
    assert effective_budget(None, 500) is None  # a raise never creates a budget the org file does not set
    line = budget_line("Platform", 1_000_000_000, 500_000_000, 900_000_000, 210_000_000, windows(NOW, "UTC").now_local)
    assert line is not None and line.budget_micros == 1_500_000_000 and round(line.fraction, 2) == 0.6
    assert budget_line("x", None, 5, 5, 5, NOW) is None
