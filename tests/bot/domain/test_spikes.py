"""Behaviour of the spend spike detector as a budget owner would see it: which hours get a message."""
from __future__ import annotations

import json
import random

import pytest

from bot.domain.spikes import SpikeConfig, SpikeDetector, baseline, detect

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
    # Same series with a lower bar: the spike is found, so silence above came from min_excess.
    assert [v.index for v in detect(tiny, SpikeConfig(step_seconds=3600, min_excess=0.1))] == [at(20, 3)]


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
