"""Behaviour of the spend spike detector as a budget owner would see it: which hours get a message."""
from __future__ import annotations

import json
import math
import random

import pytest

from bot.domain.spikes import SpikeConfig, SpikeDetector, SpikeVerdict, baseline, detect, scan, with_floor

HOURLY = SpikeConfig(step_seconds=3600, min_excess=1.0)
DAY = 24


def office_spend(days: int, peak: float = 10.0, noise: float = 0.1, seed: int = 7) -> list[float]:
    """Hourly spend of a team: busy 9-18 on weekdays, a tenth of that otherwise. Starts on a Monday."""
    rng = random.Random(seed)
    out = []
    for day in range(days):
        for hour in range(DAY):
            busy = day % 7 < 5 and 9 <= hour < 18
            out.append((peak if busy else peak / 10) * rng.lognormvariate(0, noise))
    return out


def at(day: int, hour: int) -> int:
    return day * DAY + hour


def test_flat_seasonal_series_stays_silent() -> None:
    assert detect(office_spend(days=42), HOURLY) == []


def test_ten_x_burst_fires_exactly_one_new_alert() -> None:
    series = office_spend(days=35)
    start = at(30, 14)  # a Wednesday afternoon, weekly baseline in use
    for i in range(start, start + 2):
        series[i] *= 10

    verdicts = detect(series, HOURLY)

    assert [(v.index, v.kind) for v in verdicts] == [(start, "new")]
    assert verdicts[0].multiple == pytest.approx(10, rel=0.2)
    assert verdicts[0].score >= HOURLY.threshold


def test_spike_below_min_excess_stays_silent() -> None:
    rng = random.Random(3)
    tiny = [0.05 * rng.lognormvariate(0, 0.5) for _ in range(30 * DAY)]
    tiny[at(20, 3)] = 0.9  # 18x the usual hour, but 85 cents is not worth a message

    assert detect(tiny, HOURLY) == []
    # Same series with a lower bar: the spike is found, so silence above came from min_excess. (So low a bar also
    # lets through a 4x hour in the second week, the highest so far: at(8, 14).)
    assert [v.index for v in detect(tiny, SpikeConfig(step_seconds=3600, min_excess=0.1))] == [at(8, 14), at(20, 3)]


def test_daily_busy_hour_does_not_fire_but_the_same_cost_at_night_does() -> None:
    rng = random.Random(5)
    series = [(10.0 if i % DAY == 14 else 1.0) * rng.lognormvariate(0, 0.1) for i in range(30 * DAY)]
    assert detect(series, HOURLY) == []  # the 14:00 job runs every day: that is its normal

    series[at(20, 3)] = 10.0  # the same cost at 3 a.m. is a surprise
    assert [v.index for v in detect(series, HOURLY)] == [at(20, 3)]


def test_growing_episode_gives_one_escalation_not_a_storm() -> None:
    series = office_spend(days=35)
    start = at(29, 10)  # Tuesday morning
    for offset, factor in enumerate([4, 5, 6, 8, 9, 10, 11]):
        series[start + offset] = 10.0 * factor

    verdicts = detect(series, HOURLY)

    assert [(v.index, v.kind) for v in verdicts] == [(start, "new"), (start + 3, "escalation")]


def test_state_round_trip_mid_episode_sends_no_second_alert() -> None:
    series = office_spend(days=35)
    start = at(29, 10)
    for i in range(start, start + 6):
        series[i] *= 10

    first = SpikeDetector(HOURLY)
    sent = [v for i in range(start + 3) if (v := first.update(series, i)) is not None]
    assert [(v.index, v.kind) for v in sent] == [(start, "new")]

    saved = json.loads(json.dumps(first.state()))  # what the bot writes to its database
    resumed = SpikeDetector.from_state(HOURLY, saved)
    assert resumed.update(series, start + 2) is None  # a rescan of a judged point is ignored
    later = [v for i in range(start + 3, len(series)) if (v := resumed.update(series, i)) is not None]

    assert later == []
    assert resumed.state()["in_episode"] is False  # the episode ended once spend was back to normal


def test_baseline_uses_only_the_past_and_waits_for_history() -> None:
    series = office_spend(days=35)
    assert baseline(series, DAY, HOURLY) is None  # one day is not enough to know what is usual
    i = at(30, 11)
    assert baseline(series, i, HOURLY) == baseline(series[:i], i, HOURLY)
    expected = baseline(series, i, HOURLY)
    assert expected is not None and expected.expected == pytest.approx(10, rel=0.3)


def test_a_sustained_new_level_is_one_message_then_the_baseline_follows_it() -> None:
    series = office_spend(days=42)
    start = at(30, 0)  # from a Wednesday on, the team spends five times as much, for good
    for i in range(start, len(series)):
        series[i] *= 5

    verdicts = detect(series, HOURLY)

    assert [v.kind for v in verdicts] == ["new"] and start <= verdicts[0].index < start + DAY
    assert baseline(series, len(series) - 1, HOURLY).expected > 2 * baseline(series, start, HOURLY).expected


def test_a_high_hour_waits_for_a_second_unless_it_is_the_highest_in_two_weeks() -> None:
    series = office_spend(days=35, noise=0.05)
    i = at(29, 14)  # a Tuesday afternoon
    base = baseline(series, i, HOURLY)
    assert base is not None
    damp = HOURLY.damp_fraction * HOURLY.min_excess
    high = (base.expected + damp) * math.exp((HOURLY.threshold + 0.5) * base.spread) - damp  # above the threshold
    alone = list(series)
    alone[i] = high
    assert [v.index for v in detect(alone, HOURLY)] == [i]  # nothing in two weeks came near it: at once

    shadowed = list(alone)
    shadowed[i - 3 * DAY] = 1.5 * high  # three days before, an even higher hour (its own alert, then)
    assert i not in [v.index for v in detect(shadowed, HOURLY)]  # one more such hour: wait for a second
    two = list(shadowed)
    two[i + 1] = high
    assert i + 1 in [v.index for v in detect(two, HOURLY)]

    old = list(alone)
    old[i - 15 * DAY] = 1.5 * high  # the higher hour is more than two weeks back: no longer in the way
    assert i in [v.index for v in detect(old, HOURLY)]


def test_a_young_series_alerts_on_one_hour_alone_only_when_it_is_the_highest_so_far() -> None:
    series = office_spend(days=10, noise=0.05)
    i = at(8, 14)  # eight days of history: not yet the two weeks the "highest in two weeks" rule looks back on
    base = baseline(series, i, HOURLY)
    assert base is not None
    damp = HOURLY.damp_fraction * HOURLY.min_excess

    def at_score(z: float) -> float:
        return (base.expected + damp) * math.exp(z * base.spread) - damp

    lone = at_score(HOURLY.threshold_alone_young + 0.2)
    assert lone > max(series[:i])
    highest = list(series)
    highest[i] = lone  # above every hour so far, at the young score (below the two-week rule's): one message
    assert [v.index for v in detect(highest, HOURLY)] == [i]

    shadowed = list(highest)
    shadowed[at(3, 2)] = 1.5 * lone  # the same hour, but a night five days before was higher (its own alert)
    assert i not in [v.index for v in detect(shadowed, HOURLY)]
    below = list(series)
    below[i] = at_score(HOURLY.threshold_alone_young - 0.3)  # the highest so far, but not unusual enough
    assert detect(below, HOURLY) == []


def test_in_its_first_week_a_series_alerts_on_one_hour_alone_only_far_above_normal() -> None:
    series = office_spend(days=10, noise=0.05)
    i = at(4, 14)  # four days of history: topping them says little
    base = baseline(series, i, HOURLY)
    assert base is not None
    damp = HOURLY.damp_fraction * HOURLY.min_excess

    def at_score(z: float) -> float:
        return (base.expected + damp) * math.exp(z * base.spread) - damp

    highest = list(series)
    highest[i] = at_score(HOURLY.threshold_alone_young + 0.5)
    assert highest[i] > max(series[:i])
    assert detect(highest, HOURLY) == []
    huge = list(series)
    huge[i] = at_score(HOURLY.threshold_alone_new + 0.5)
    assert [v.index for v in detect(huge, HOURLY)] == [i]


def test_the_running_hour_escalates_as_it_fills_up_and_once_only() -> None:
    series = office_spend(days=35)
    h = at(29, 14)
    det = SpikeDetector(HOURLY)
    assert scan(det, series[:h] + [0.0], h) == []
    assert [(v.kind, v.number) for v in scan(det, series[:h] + [45.0], h)] == [("new", 1)]
    assert scan(det, series[:h] + [60.0], h) == []  # grew, but not to twice $45
    assert [(v.kind, v.value, v.number) for v in scan(det, series[:h] + [170.0], h)] == [("escalation", 170.0, 2)]
    assert scan(det, series[:h] + [170.0, 10.0], h + 1) == []  # the complete hour: the same $170, no third message


def test_an_expected_level_is_no_spike_but_far_above_it_is() -> None:
    series = office_spend(days=35)
    i = at(29, 3)  # 3 a.m.: usually $1
    series[i] = 40.0
    assert [v.index for v in detect(series, HOURLY)] == [i]
    assert detect(series, with_floor(HOURLY, 45.0)) == []
    series[i] = 200.0
    assert [v.index for v in detect(series, with_floor(HOURLY, 45.0))] == [i]


def test_an_hour_filling_up_at_a_steady_rate_is_one_message() -> None:
    series = office_spend(days=35)
    h = at(29, 14)  # usually $10
    det = SpikeDetector(HOURLY)
    sent = [v for part, so_far in [(0.25, 30.0), (0.5, 60.0), (0.75, 90.0), (1.0, 120.0)]
            for v in scan(det, series[:h] + [so_far], h, elapsed=part)]
    assert [(v.kind, v.value) for v in sent] == [("new", 30.0)]
    # The next hour runs at twice that rate: $60 in its first quarter ($240/h against $120/h): one escalation.
    assert [v.kind for v in scan(det, series[:h] + [120.0, 60.0], h + 1, elapsed=0.25)] == ["escalation"]


def test_a_rise_too_small_for_the_gates_alerts_once_it_has_lasted() -> None:
    series = office_spend(days=35, noise=0.05)
    start = at(29, 10)
    damp = HOURLY.damp_fraction * HOURLY.min_excess
    for i in range(start, start + 8):  # each hour 2.5 spreads above its (lifting) baseline: below both gates
        base = baseline(series, i, HOURLY)
        assert base is not None
        series[i] = (base.expected + damp) * math.exp(2.5 * base.spread) - damp

    verdicts = detect(series, HOURLY)

    assert len(verdicts) == 1 and start + 2 <= verdicts[0].index <= start + 7
    assert detect(series[:start + 2], HOURLY) == []  # two such hours are not enough


def test_bursts_an_hour_apart_add_up_to_one_message() -> None:
    # An agent looping with pauses: every other hour of a working day 3.8 spreads above normal, the hours between
    # ordinary. No hour passes a gate on its own (never two high hours in a row; a far higher hour three days before),
    # so only their sum can tell, and an ordinary hour between two bursts must not wipe it.
    series = office_spend(days=35, noise=0.05)
    start = at(29, 9)
    bursts = range(start, start + 9, 2)
    damp = HOURLY.damp_fraction * HOURLY.min_excess
    for i in bursts:
        base = baseline(series, i, HOURLY)
        assert base is not None
        series[i] = (base.expected + damp) * math.exp(3.8 * base.spread) - damp
    series[start - 3 * DAY] = 2 * max(series[i] for i in bursts)

    verdicts = [v for v in detect(series, HOURLY) if v.index >= start]

    assert [v.kind for v in verdicts] == ["new"] and verdicts[0].index in bursts[2:]
    assert verdicts[0].score == pytest.approx(3.8)
    two_bursts = series[:bursts[1] + 2]  # two bursts with an ordinary hour after each: not yet
    assert [v for v in detect(two_bursts, HOURLY) if v.index >= start] == []


def test_a_person_is_judged_against_the_rest_of_their_team() -> None:
    person = office_spend(days=35)
    i = at(30, 14)  # a Wednesday afternoon
    base = baseline(person, i, HOURLY)
    assert base is not None
    others_usual = 40.0  # the rest of the team usually spends $40 in this hour

    def judged(person_x: float, others_x: float) -> SpikeVerdict | None:
        series = list(person)
        series[i] = person_x * base.expected
        det = SpikeDetector(HOURLY)
        for j in range(i):
            det.update(series, j)
        return det.update(series, i, team=(series[i] + others_x * others_usual, base.expected + others_usual))

    assert judged(6, 1) is not None  # the others as usual: the person's own spike
    assert judged(6, 6) is None  # everyone at six times: the team's spike, not this person's
    assert judged(6, 1.02) is not None  # the others 80 cents up: not worth min_excess, no lift
    far = judged(30, 2)  # the others doubled, the person went thirtyfold: still theirs
    damp = HOURLY.damp_fraction * HOURLY.min_excess
    assert far is not None
    assert far.expected == pytest.approx((base.expected + damp) * (80 + damp) / (40 + damp) - damp)
