"""The signal detectors on hand-made requests: what is a loop, a runaway session, burn without outcome, and what is
not (ordinary heavy use, a batch of a few identical prompts, a session as busy as the person usually is)."""
from __future__ import annotations

from bot.domain.signals import (DAY_S, IDLE, LOOP, RUNAWAY, Request, SignalConfig, idle_burn, loops, request_of,
                                runaways, usual_hour)

CFG = SignalConfig()
T0 = 1_763_000_000


def reqs(n: int, every_s: int, fp: str | None = "fp", session: str | None = None, cost: int = 100_000,
         pid: int = 1, start: int = T0) -> list[Request]:
    return [Request(start + i * every_s, pid, cost, "gpt-4o", fp, session) for i in range(n)]


def test_a_loop_is_found_at_the_request_that_completes_the_window_once_per_episode() -> None:
    found = loops(reqs(40, 15), CFG, T0 + 3600)
    [f] = found
    assert (f.kind, f.person_id, f.detected_at, f.severe, f.level) == (LOOP, 1, T0 + 19 * 15, False, 40)
    assert f.evidence["requests"] == 40 and f.evidence["cost_micros"] == 4_000_000 and f.evidence["minutes"] == 10
    assert f.key.startswith("loop:person:1:") and f.key.endswith(f":{T0}")
    # The same prompt again after an hour of quiet is a new episode (a new key); 19 in 10 minutes is none.
    later = loops(reqs(40, 15) + reqs(25, 10, start=T0 + 7200), CFG, T0 + 9000)
    assert len({f.key for f in later}) == 2
    assert loops(reqs(19, 10), CFG, T0 + 3600) == []


def test_ordinary_heavy_use_and_slow_repeats_are_no_loop() -> None:
    distinct = [Request(T0 + i * 3, 1, 50_000, "gpt-4o", f"fp{i}") for i in range(500)]
    slow = reqs(60, 60)  # the same prompt once a minute: 10 in any 10 minutes
    assert loops(distinct + slow, CFG, T0 + 7200) == []


def test_expected_doubles_what_counts_as_a_loop_for_that_person_only() -> None:
    both = reqs(30, 10) + reqs(30, 10, pid=2)
    assert [f.person_id for f in loops(both, CFG, T0 + 3600, {1: 30})] == [2]
    assert [f.person_id for f in loops(reqs(60, 5) + reqs(30, 10, pid=2), CFG, T0 + 3600, {1: 30})] == [1, 2]


def test_usual_hour_is_the_90th_percentile_of_active_hours_with_a_floor() -> None:
    assert usual_hour([], CFG) == CFG.runaway_floor_micros
    assert usual_hour([0] * 50 + [3_000_000] * 9 + [10_000_000], CFG) == 3_700_000
    assert usual_hour([100_000] * 50, CFG) == CFG.runaway_floor_micros


def test_a_runaway_session_is_far_above_the_persons_usual_hour() -> None:
    usual = {1: 3_000_000}  # line: max(8 x $3, $20) = $24 within an hour
    [f] = runaways(reqs(40, 30, fp=None, session="s-1", cost=1_000_000), usual, CFG, T0 + 3600)
    assert (f.kind, f.detected_at, f.level, f.severe) == (RUNAWAY, T0 + 23 * 30, 40_000_000, False)
    assert f.evidence["times"] == 13.3 and f.evidence["usual_micros"] == 3_000_000
    # As busy as usual, spread over hours: $40 over 4 hours is never $24 within one.
    assert runaways(reqs(40, 360, fp=None, session="s-2", cost=1_000_000), usual, CFG, T0 + 20000) == []
    # One huge request is not a session; a heavy user's usual hour raises their line.
    assert runaways(reqs(1, 1, fp=None, session="s-3", cost=90_000_000), usual, CFG, T0 + 60) == []
    assert runaways(reqs(40, 30, fp=None, session="s-1", cost=1_000_000), {1: 6_000_000}, CFG, T0 + 3600) == []
    [severe] = runaways(reqs(100, 30, fp=None, session="s-1", cost=1_000_000), usual, CFG, T0 + 3600)
    assert severe.severe and severe.level == 100_000_000


def test_burn_without_outcome_needs_days_over_the_line_no_own_outcome_and_a_team_that_ships() -> None:
    today = T0 // DAY_S
    daily = {1: {today - 3: 60_000_000, today - 2: 70_000_000, today - 1: 80_000_000, today: 1_000_000},
             2: {today - 3: 60_000_000, today - 2: 70_000_000, today - 1: 80_000_000}}
    team_of = {1: 7, 2: 7}
    shipping = {7: {today - 2: 3}}
    [f] = idle_burn(daily, {2: {today - 2}}, team_of, shipping, CFG, today)
    assert (f.kind, f.person_id, f.episode, f.level) == (IDLE, 1, str(today - 3), 70_000_000)
    assert f.evidence["spent_micros"] == 210_000_000 and f.evidence["team_outcomes"] == 3
    assert idle_burn(daily, {}, team_of, {}, CFG, today) == []  # the team ships nothing (or is not tracked)
    assert idle_burn(daily, {}, team_of, shipping, CFG, today, {1: 40_000_000, 2: 40_000_000}) == []


def test_requests_take_the_fingerprint_and_session_from_any_sources_metadata() -> None:
    r = request_of(T0, 1, None, "m", {"prompt_fingerprint": "ab12cd34ef", "session_id": "s"})
    assert (r.fingerprint, r.session, r.cost_micros) == ("ab12cd34ef", "s", 0)
    assert request_of(T0, 1, 5, "m", {"prompt_fingerprint": "fix the failing test"}).fingerprint is None  # text
    assert request_of(T0, 1, 5, "m", {"trace_id": "t"}).session == "t"
    assert request_of(T0, 1, 5, "m", "not a dict").fingerprint is None
