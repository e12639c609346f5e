"""The spike detector as it was before issue 12 (bot/domain/spikes.py at 645e9b8), kept as a baseline for bench/spike_quality.py.

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
    threshold: float = 3.0  # robust z-score threshold, on log(value + min_excess)
    cooldown_steps: int = 3  # consecutive normal steps that end an episode
    escalate_factor: float = 2.0  # re-alert when an episode reaches this multiple of the last alert
    days: int = 7  # daily seasonal lags (same time, previous days)
    weeks: int = 4  # weekly seasonal lags (same time and weekday, previous weeks)
    min_days: int = 2  # warm-up: daily samples needed before any judgement
    min_weeks: int = 3  # weekly samples needed before they replace the daily ones
    recent_steps: int = 5  # recent points whose level can lift the seasonal expectation
    max_lift: float = 1.5  # the recent level lifts the expectation by at most this factor
    spread_slots: int = 2  # neighbouring slots (each side) pooled into the spread estimate
    spread_floor: float = 0.25  # floor of the log-space spread: team spend is never steadier than ~25%

    def __post_init__(self) -> None:
        if self.step_seconds <= 0 or 86400 // self.step_seconds < 1:
            raise ValueError("step_seconds must be between 1 and 86400")
        if self.threshold <= 0 or self.cooldown_steps < 1 or self.escalate_factor <= 1:
            raise ValueError("threshold > 0, cooldown_steps >= 1 and escalate_factor > 1 required")
        if self.min_excess < 0 or self.min_days < 1 or self.min_weeks < 1 or self.max_lift < 1:
            raise ValueError("min_excess >= 0, min_days >= 1, min_weeks >= 1, max_lift >= 1 required")

    @property
    def points_per_day(self) -> int:
        return 86400 // self.step_seconds


@dataclass(frozen=True)
class Baseline:
    expected: float
    spread: float  # robust sigma of log(value + min_excess), floored: a relative spread


@dataclass(frozen=True)
class SpikeVerdict:
    index: int
    value: float
    expected: float
    score: float  # robust z: (log(value + min_excess) - log(expected + min_excess)) / spread
    multiple: float  # value / expected; inf when expected is 0
    kind: str  # "new" or "escalation"


def _lagged(history: Sequence[float], index: int, lag: int, count: int, limit: int) -> list[float]:
    """history[index - n * lag] for n = 1..count, keeping positions in [0, limit)."""
    return [history[p] for n in range(1, count + 1) if 0 <= (p := index - n * lag) < limit]


def _damp(cfg: SpikeConfig) -> float:
    return max(cfg.min_excess, 1e-9)


def _log(x: float, damp: float) -> float:
    # Spend noise is multiplicative, so we judge log(value + damp): a 3x hour is as surprising at $2
    # as at $200. The damp (min_excess) flattens amounts too small to matter and keeps zeros finite.
    return math.log(max(x, 0.0) + damp)


def _loo_residuals(logs: list[float]) -> list[float]:
    """|x - median of the other samples| for each sample (leave-one-out), in O(k log k)."""
    s, n = sorted(logs), len(logs) - 1
    out = []
    for p, y in enumerate(s):
        def rest(q: int) -> float:  # q-th smallest once s[p] is removed
            return s[q] if q < p else s[q + 1]
        mid = rest(n // 2) if n % 2 else (rest(n // 2 - 1) + rest(n // 2)) / 2
        out.append(abs(y - mid))
    return out


def baseline(history: Sequence[float], index: int, cfg: SpikeConfig) -> Baseline | None:
    """Expected value and spread for point `index`, from history[:index] only.

    `spread` is a robust sigma of log(value + min_excess), i.e. relative: 0.3 is about +-30%.
    Cost: a few medians of k <= days + weeks samples per neighbouring and recent slot; never O(n).
    """
    damp, day = _damp(cfg), cfg.points_per_day
    cache: dict[int, tuple[list[float], list[float]]] = {}

    def lags(i: int) -> tuple[list[float], list[float]]:  # (weekly, daily) log samples of slot i
        if i not in cache:
            weekly = _lagged(history, i, 7 * day, cfg.weeks, index)
            daily = _lagged(history, i, day, cfg.days, index)
            cache[i] = ([_log(x, damp) for x in weekly], [_log(x, damp) for x in daily])
        return cache[i]

    def center(i: int) -> float | None:
        # Same slot of previous weeks once there are enough, because weekdays and weekends differ;
        # until then the same time of previous days (weekends then look busy: we only lose
        # sensitivity there, we do not raise false alarms).
        weekly, daily = lags(i)
        if len(weekly) >= cfg.min_weeks:
            return median(weekly)
        return median(daily) if len(daily) >= cfg.min_days else None

    mid = center(index)
    if mid is None:
        return None

    # Spread: how far a sample falls from the median of its peers (leave-one-out), which is the error
    # we make when judging a new point against a median of k samples. The plain MAD of k <= 7
    # samples around their own median is biased low (~0.7 sigma for k = 4) and turns noise into
    # alerts. Pooling both lag groups of this slot and its neighbours gives ~50 residuals instead of 4.
    residuals = [r for i in range(index - cfg.spread_slots, index + cfg.spread_slots + 1)
                 for group in lags(i) if len(group) >= 2 for r in _loo_residuals(group)]
    sigma = max(_MAD_TO_SIGMA * median(residuals) if residuals else 0.0, cfg.spread_floor)

    # Recent level: how the last few points compare with their own seasonal expectation. It lifts the
    # expectation on a busier-than-usual day (up to max_lift) so that does not alert; capped, so a
    # runaway job that starts small cannot become the new normal before it stands out; never lowers
    # it, so a quiet spell cannot make ordinary use look like a spike.
    recent = [_log(history[j], damp) - c
              for j in range(max(0, index - cfg.recent_steps), index) if (c := center(j)) is not None]
    lift = min(max(0.0, median(recent)), math.log(cfg.max_lift)) if recent else 0.0
    return Baseline(expected=math.exp(mid + lift) - damp, spread=sigma)


def _score(value: float, base: Baseline, cfg: SpikeConfig) -> float:
    """Robust z-score of `value` in the log space of `baseline`."""
    damp = _damp(cfg)
    return (_log(value, damp) - math.log(base.expected + damp)) / base.spread


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
        score = _score(value, base, self.cfg)
        anomalous = value - base.expected >= self.cfg.min_excess and score >= self.cfg.threshold

        if not self.in_episode:
            if not anomalous:
                return None
            self.in_episode, self.normal_run = True, 0
            return self._alert(index, value, base, score, "new")

        if anomalous:
            self.normal_run = 0
            # Grown by the factor since the last alert: worth one more message, then quiet again
            # until it doubles once more. Anomalous points only: a normal busy hour after an alert
            # at a quiet hour is not an escalation.
            if value >= self.cfg.escalate_factor * self.alert_value:
                return self._alert(index, value, base, score, "escalation")
        else:
            self.normal_run += 1
            if self.normal_run >= self.cfg.cooldown_steps:
                self.in_episode = False
        return None

    def _alert(self, index: int, value: float, base: Baseline, score: float, kind: str) -> SpikeVerdict:
        self.alert_value = value
        if base.expected > 0:
            multiple = value / base.expected
        else:
            multiple = math.inf if value > 0 else 1.0
        return SpikeVerdict(index, value, base.expected, score, multiple, kind)


def detect(series: Sequence[float], cfg: SpikeConfig) -> list[SpikeVerdict]:
    """Replay a whole series and return the alerts that would have been sent."""
    det = SpikeDetector(cfg)
    return [v for i in range(len(series)) if (v := det.update(series, i)) is not None]
