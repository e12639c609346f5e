"""Upward spend spike detection on one regular series (pure logic, no I/O).

The series is spend per fixed step (e.g. USD per hour). A point is anomalous when it is well above
what the same slot usually costs (same hour of day / of week) and the excess is worth money.
Only upward moves matter: a quiet hour costs nothing, a runaway agent does.

Alerting works in episodes: one "new" alert when an episode starts, an "escalation" when it grows by
`escalate_factor` since the last alert, and silence until the series has been normal for
`cooldown_steps`, so one incident never becomes an alert storm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any, Sequence

_MAD_TO_SIGMA = 1.4826  # makes the MAD a consistent estimate of sigma for normal noise


@dataclass(frozen=True)
class SpikeConfig:
    step_seconds: int  # series step
    min_excess: float = 1.0  # minimum (value - baseline) to alert, in series units
    threshold: float = 6.0  # robust z-score threshold
    cooldown_steps: int = 3  # consecutive normal steps that end an episode
    escalate_factor: float = 2.0  # re-alert when an episode reaches this multiple of the last alert
    days: int = 7  # daily seasonal lags (same hour, previous days)
    weeks: int = 4  # weekly seasonal lags (same hour and weekday, previous weeks)
    min_days: int = 2  # warm-up: daily samples needed before any judgement
    min_weeks: int = 3  # weekly samples needed before they replace the daily ones
    recent_steps: int = 5  # recent points whose level can lift the seasonal expectation
    rel_spread_floor: float = 0.1  # spread never below this fraction of the expectation

    def __post_init__(self) -> None:
        if self.step_seconds <= 0 or 86400 // self.step_seconds < 1:
            raise ValueError("step_seconds must be between 1 and 86400")
        if self.threshold <= 0 or self.cooldown_steps < 1 or self.escalate_factor <= 1:
            raise ValueError("threshold > 0, cooldown_steps >= 1 and escalate_factor > 1 required")
        if self.min_excess < 0 or self.min_days < 1 or self.min_weeks < 1 or self.recent_steps < 0:
            raise ValueError("min_excess >= 0, min_days >= 1, min_weeks >= 1, recent_steps >= 0")

    @property
    def points_per_day(self) -> int:
        return 86400 // self.step_seconds


@dataclass(frozen=True)
class Baseline:
    expected: float
    spread: float  # robust standard deviation around `expected`, floored


@dataclass(frozen=True)
class SpikeVerdict:
    index: int
    value: float
    expected: float
    score: float  # (value - expected) / spread
    multiple: float  # value / expected; inf when expected is 0
    kind: str  # "new" or "escalation"


def _slot_samples(history: Sequence[float], index: int, cfg: SpikeConfig) -> list[float] | None:
    """Values at the same seasonal slot as `index`, or None during warm-up.

    Same slot of previous weeks once there are enough of them, because weekends and weekdays differ;
    until then the same hour of previous days (weekends then look busy: we only lose sensitivity).
    """
    day = cfg.points_per_day
    week = 7 * day
    weekly = [history[index - w * week] for w in range(1, cfg.weeks + 1) if index - w * week >= 0]
    if len(weekly) >= cfg.min_weeks:
        return weekly
    daily = [history[index - d * day] for d in range(1, cfg.days + 1) if index - d * day >= 0]
    return daily if len(daily) >= cfg.min_days else None


def baseline(history: Sequence[float], index: int, cfg: SpikeConfig) -> Baseline | None:
    """Expected value and spread for point `index`, from history[:index] only. O(k * recent_steps)."""
    samples = _slot_samples(history, index, cfg)
    if samples is None:
        return None
    seasonal = median(samples)
    mad = median(abs(x - seasonal) for x in samples)

    # Recent level: how the last few points compare with their own seasonal expectation. It only
    # lifts the expectation, so a persistent new level (a busier day, a long-running job) stops
    # looking anomalous after recent_steps / 2 points instead of alerting all day, while a quiet
    # spell never makes ordinary use look like a spike. Ratios are damped by min_excess so that
    # noise on cents-sized values (nights, weekends) cannot move the level.
    damp = max(cfg.min_excess, 1e-9)
    ratios = []
    for j in range(max(0, index - cfg.recent_steps), index):
        past = _slot_samples(history, j, cfg)
        if past is not None:
            ratios.append((history[j] + damp) / (median(past) + damp))
    lift = max(1.0, median(ratios)) if ratios else 1.0

    expected = seasonal * lift
    # Floors: few samples can agree by chance (MAD 0); the absolute floor makes an excess of exactly
    # min_excess score at most the threshold, so the score stays finite on a dead-flat series.
    spread = max(
        _MAD_TO_SIGMA * mad * lift,
        cfg.rel_spread_floor * abs(expected),
        max(cfg.min_excess, 1e-9) / cfg.threshold,
    )
    return Baseline(expected=expected, spread=spread)


class SpikeDetector:
    """Feeds points in order and decides which ones deserve a message. State is a few numbers."""

    def __init__(self, cfg: SpikeConfig) -> None:
        self.cfg = cfg
        self.last_index = -1  # last point judged; older or repeated indices are ignored
        self.in_episode = False
        self.alert_value = 0.0  # value at the last alert sent in this episode
        self.normal_run = 0  # consecutive normal points inside the episode

    def state(self) -> dict[str, Any]:
        """JSON-friendly episode state, to persist between scans."""
        return {
            "v": 1,
            "last_index": self.last_index,
            "in_episode": self.in_episode,
            "alert_value": self.alert_value,
            "normal_run": self.normal_run,
        }

    @classmethod
    def from_state(cls, cfg: SpikeConfig, d: dict[str, Any]) -> SpikeDetector:
        det = cls(cfg)
        det.last_index = int(d["last_index"])
        det.in_episode = bool(d["in_episode"])
        det.alert_value = float(d["alert_value"])
        det.normal_run = int(d["normal_run"])
        return det

    def update(self, history: Sequence[float], index: int) -> SpikeVerdict | None:
        """Judge point `index` (history[:index + 1] known); a verdict means: send an alert."""
        if index <= self.last_index:
            return None  # a rescan of points already judged must not alert twice
        self.last_index = index
        base = baseline(history, index, self.cfg)
        if base is None:
            return None
        value = history[index]
        excess = value - base.expected
        anomalous = excess >= self.cfg.min_excess and excess / base.spread >= self.cfg.threshold

        if not self.in_episode:
            if not anomalous:
                return None
            self.in_episode, self.normal_run = True, 0
            return self._alert(index, value, base, "new")

        # Escalation is measured against the alert, not the baseline: by now the recent level may
        # have absorbed the incident, but the owner still wants to hear that it doubled again.
        grown = value >= self.cfg.escalate_factor * self.alert_value
        if grown and value - self.alert_value >= self.cfg.min_excess:
            self.normal_run = 0
            return self._alert(index, value, base, "escalation")
        if anomalous:
            self.normal_run = 0
        else:
            self.normal_run += 1
            if self.normal_run >= self.cfg.cooldown_steps:
                self.in_episode = False
        return None

    def _alert(self, index: int, value: float, base: Baseline, kind: str) -> SpikeVerdict:
        self.alert_value = value
        if base.expected > 0:
            multiple = value / base.expected
        else:
            multiple = math.inf if value > 0 else 1.0
        score = (value - base.expected) / base.spread
        return SpikeVerdict(index, value, base.expected, score, multiple, kind)


def detect(series: Sequence[float], cfg: SpikeConfig) -> list[SpikeVerdict]:
    """Replay a whole series and return the alerts that would have been sent."""
    det = SpikeDetector(cfg)
    return [v for i in range(len(series)) if (v := det.update(series, i)) is not None]
