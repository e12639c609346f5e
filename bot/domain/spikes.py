"""Upward spend spike detection on one hourly series (pure logic, no I/O).

The series is spend per fixed step (USD per hour). A point is anomalous when it is well above what the same slot
usually costs (same hour of previous weeks, or of previous days until there are enough weeks), lifted to the recent
level, and the excess is worth money. Only upward moves matter: a quiet hour costs nothing, a runaway agent does.

What keeps false alarms down (each measured in bench/spike_quality.py):
- robust statistics everywhere (medians; the spread from leave-one-out residuals of the seasonal samples), in log space;
- the spread is the larger of the typical residual and the series' own tail (a high quantile of the same residuals
  over a margin), so a series whose normal hours jump about needs a jump beyond its usual jumps;
- a persistence gate: a high hour alerts only when the hour before was high too, or at once when it is also the
  highest hour of the last two weeks (`alone_high_days`), and a smaller rise once it has lasted (a CUSUM of the
  score over `cusum_k` reaching `cusum_h`; a quiet hour lowers it by `cusum_k`, so bursts an hour apart add up).
  Most false alarms on real series were single hours that jump as high as that series' hours often do (news in tweet
  volume, a sensor's blip); an hour above everything of two weeks is not that, so it may alert on a lower score (3
  instead of 4): more caught, fewer false alarms (bench/spike_quality.py). In a series' second week, "the highest
  so far" stands in for it (`young_days`, `threshold_alone_young`);
- the recent level: a sustained new level (changepoint) lifts the expectation once it fills half of `level_steps`,
  so it is one message, then quiet, and the baseline has adapted; a quiet spell never lowers it;
- `floor`: a level the owner marked *Expected* (feedback) is never treated as a spike again;
- a person's expectation rises with the rest of their team's spend (`lifted_by_team`): a rise everyone shares is the
  team's spike, one message in its channel, not a DM to each of its people.

Alerting works in episodes: one "new" alert when an episode starts, an "escalation" each time the running episode
reaches `escalate_factor` times the value of the last alert (also within the running hour, as it fills), and silence
until the series has been normal for `cooldown_steps`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import median
from typing import Any, Iterable, Mapping, Sequence

_MAD_TO_SIGMA = 1.4826  # makes the MAD a consistent estimate of sigma for normal noise


@dataclass(frozen=True)
class SpikeConfig:
    step_seconds: int  # series step
    min_excess: float = 1.0  # minimum (value - baseline) to alert, in series units
    threshold: float = 3.0  # robust z-score (log space) that alerts when the previous step was high too
    threshold_alone: float = 3.0  # robust z-score that alerts on its own ...
    alone_excess: float = 1.0  # ... when its excess is at least this many min_excess (a volume gate) ...
    alone_high_days: int = 14  # ... and it is above every step of these last days (0: no such condition);
    # With less history than that but at least `young_days`: the highest step so far, at this score. Lower, not
    # higher: a young series is judged against the same time of previous days, weekdays and weekends mixed, so its
    # spread is wider (synthetic team spend: 0.33 in the first two weeks, 0.25 from the fourth) and the same surprise
    # scores less. In the first `young_days` "the highest so far" says little: a lone step needs `threshold_alone_new`.
    threshold_alone_young: float = 2.0
    young_days: int = 7
    threshold_alone_new: float = 4.0
    cusum_k: float = 1.5  # CUSUM of (score - cusum_k) alerts at cusum_h (a step not worth a message scores 0; 0: off):
    cusum_h: float = 4.0  # a rise too small for the gates that lasts (a level shift in the making) still alerts
    cooldown_steps: int = 3  # consecutive normal steps that end an episode
    escalate_factor: float = 2.0  # re-alert when an episode's run rate reaches this multiple of the last alert's
    min_elapsed: float = 1 / 3  # a running step's rate is value / max(elapsed, this): its first minutes say little
    days: int = 7  # daily seasonal lags (same time, previous days)
    weeks: int = 4  # weekly seasonal lags (same time and weekday, previous weeks)
    min_days: int = 2  # warm-up: daily samples needed before any judgement
    min_weeks: int = 3  # weekly samples needed before they replace the daily ones
    recent_steps: int = 5  # recent points whose level can lift the expectation by up to max_lift
    max_lift: float = 1.5
    level_steps: int = 24  # a level held for half of these steps becomes the expectation (no cap)
    spread_slots: int = 2  # neighbouring slots (each side) pooled into the spread estimate
    spread_floor: float = 0.25  # floor of the log-space spread: team spend is never steadier than ~25%
    tail_quantile: float = 1.0  # the series' own usual jumps: this quantile of the residuals (1.0: the largest) ...
    tail_margin: float = 1.0  # ... times this, is a floor of threshold x spread
    floor: float = 0.0  # spend per step the owner marked as expected: never a spike up to this
    damp_fraction: float = 0.5  # log(value + damp_fraction x min_excess): how much small amounts are flattened

    def __post_init__(self) -> None:
        if self.step_seconds <= 0 or 86400 // self.step_seconds < 1:
            raise ValueError("step_seconds must be between 1 and 86400")
        if self.threshold <= 0 or self.threshold_alone < self.threshold \
                or min(self.threshold_alone_young, self.threshold_alone_new) <= 0 or self.young_days < 0 \
                or self.alone_high_days < 0 or self.cooldown_steps < 1 \
                or self.escalate_factor <= 1:
            raise ValueError("0 < threshold <= threshold_alone, threshold_alone_young > 0, threshold_alone_new > 0, "
                             "alone_high_days >= 0, young_days >= 0, cooldown_steps >= 1 and escalate_factor > 1 "
                             "required")
        if self.min_excess < 0 or self.min_days < 1 or self.min_weeks < 1 or self.max_lift < 1 or self.floor < 0:
            raise ValueError("min_excess >= 0, floor >= 0, min_days >= 1, min_weeks >= 1, max_lift >= 1 required")

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
    number: int = 1  # 1 for the episode's first message, 2 for its first escalation, ...


def _lagged(history: Sequence[float], index: int, lag: int, count: int, limit: int) -> list[float]:
    """history[index - n * lag] for n = 1..count, keeping positions in [0, limit)."""
    return [history[p] for n in range(1, count + 1) if 0 <= (p := index - n * lag) < limit]


def _damp(cfg: SpikeConfig) -> float:
    return max(cfg.damp_fraction * cfg.min_excess, 1e-9)


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


def _quantile(sorted_xs: list[float], q: float) -> float:
    return sorted_xs[min(len(sorted_xs) - 1, int(q * len(sorted_xs)))]


def baseline(history: Sequence[float], index: int, cfg: SpikeConfig) -> Baseline | None:
    """Expected value and spread for point `index`, from history[:index] only.

    `spread` is a robust sigma of log(value + min_excess), i.e. relative: 0.3 is about +-30%.
    Cost: a few medians of k <= days + weeks samples per neighbouring and recent slot; never O(n).
    """
    damp, day = _damp(cfg), cfg.points_per_day
    weekly_cache: dict[int, list[float]] = {}
    daily_cache: dict[int, list[float]] = {}

    def weekly(i: int) -> list[float]:  # log samples of slot i in previous weeks
        if i not in weekly_cache:
            weekly_cache[i] = [_log(x, damp) for x in _lagged(history, i, 7 * day, cfg.weeks, index)]
        return weekly_cache[i]

    def daily(i: int) -> list[float]:  # and on previous days (only computed when the weeks are too few)
        if i not in daily_cache:
            daily_cache[i] = [_log(x, damp) for x in _lagged(history, i, day, cfg.days, index)]
        return daily_cache[i]

    centers: dict[int, float | None] = {}

    def center(i: int) -> float | None:
        # Same slot of previous weeks once there are enough, because weekdays and weekends differ;
        # until then the same time of previous days (weekends then look busy: we only lose
        # sensitivity there, we do not raise false alarms).
        if i not in centers:
            w = weekly(i)
            if len(w) >= cfg.min_weeks:
                centers[i] = median(w)
            else:
                d = daily(i)
                centers[i] = median(d) if len(d) >= cfg.min_days else None
        return centers[i]

    mid = center(index)
    if mid is None:
        return None

    # Spread: how far a sample falls from the median of its peers (leave-one-out), which is the error
    # we make when judging a new point against a median of k samples. The plain MAD of k <= 7
    # samples around their own median is biased low (~0.7 sigma for k = 4) and turns noise into
    # alerts. Pooling the lag group of this slot and its neighbours gives ~20-35 residuals instead of 4-7.
    # Only the lag group that gives the center: daily lags mix weekdays and weekends, which is no noise once weeks are
    # in use.
    group = weekly if len(weekly(index)) >= cfg.min_weeks else daily
    residuals = sorted(r for i in range(index - cfg.spread_slots, index + cfg.spread_slots + 1)
                       if len(g := group(i)) >= 2 for r in _loo_residuals(g))
    sigma = max(_MAD_TO_SIGMA * median(residuals) if residuals else 0.0, cfg.spread_floor)
    if residuals:
        # Heavy tails: a series whose normal hours often jump 3x must jump beyond that to alert.
        sigma = max(sigma, cfg.tail_margin * _quantile(residuals, cfg.tail_quantile) / cfg.threshold)

    # Recent level, as log ratios of the last points to their own seasonal expectation. Short term (recent_steps): a
    # busier-than-usual day lifts the expectation by at most max_lift, so a runaway job that starts small cannot become
    # normal before it stands out. Long term (level_steps): the median of a day's ratios moves only once a new level
    # has held for half of it -- a changepoint -- and then follows it uncapped, so a new normal stops alerting.
    # Neither lowers it: a quiet spell (holiday) must not make ordinary use look like a spike.
    ratios = [_log(history[j], damp) - c
              for j in range(max(0, index - cfg.level_steps), index) if (c := center(j)) is not None]
    short = ratios[-cfg.recent_steps:]
    lift = min(max(0.0, median(short)), math.log(cfg.max_lift)) if short else 0.0
    if len(ratios) >= cfg.level_steps // 2:
        lift = max(lift, median(ratios))
    expected = max(math.exp(mid + lift) - damp, cfg.floor)
    return Baseline(expected=expected, spread=sigma)


def _score(value: float, base: Baseline, cfg: SpikeConfig) -> float:
    """Robust z-score of `value` in the log space of `baseline`."""
    damp = _damp(cfg)
    return (_log(value, damp) - math.log(base.expected + damp)) / base.spread


class SpikeDetector:
    """Feeds points in order and decides which ones deserve a message. State is a few numbers."""

    def __init__(self, cfg: SpikeConfig) -> None:
        self.cfg = cfg
        self.last_index = -1  # last point judged; older indices are ignored, the same one only escalates
        self.in_episode = False
        self.alert_value = 0.0  # run rate (value per whole step) at the last alert sent in this episode
        self.alert_multiple = 0.0  # and its multiple of the expectation
        self.alerts = 0  # messages sent in this episode
        self.normal_run = 0  # consecutive normal points inside the episode
        self.last_high = False  # the last point judged was above `threshold` (for the persistence gate)
        self.cusum = 0.0  # accumulated excess score of a sustained moderate rise

    def state(self) -> dict[str, Any]:
        """JSON-friendly episode state, to persist between scans."""
        return {
            "v": 2,
            "last_index": self.last_index,
            "in_episode": self.in_episode,
            "alert_value": self.alert_value,
            "alert_multiple": self.alert_multiple,
            "alerts": self.alerts,
            "normal_run": self.normal_run,
            "last_high": self.last_high,
            "cusum": self.cusum,
        }

    @classmethod
    def from_state(cls, cfg: SpikeConfig, d: dict[str, Any]) -> SpikeDetector:
        det = cls(cfg)
        det.last_index = int(d["last_index"])
        det.in_episode = bool(d["in_episode"])
        det.alert_value = float(d["alert_value"])
        det.alert_multiple = float(d.get("alert_multiple", 0.0))
        det.normal_run = int(d["normal_run"])
        det.alerts = int(d.get("alerts", 1 if det.in_episode else 0))  # v1 states had no count
        det.last_high = bool(d.get("last_high", False))
        det.cusum = float(d.get("cusum", 0.0))
        return det

    def copy(self) -> SpikeDetector:
        return SpikeDetector.from_state(self.cfg, self.state())

    def update(self, history: Sequence[float], index: int, elapsed: float = 1.0,
               team: tuple[float, float] | None = None) -> SpikeVerdict | None:
        """Judge point `index` (history[:index + 1] known); a verdict means: send an alert.

        The point judged last may be judged again when it has grown (the running hour fills up): that can only
        escalate, never start an episode or count twice towards the gate or the cooldown. `elapsed`: the part of the
        step its value covers (the running hour so far); the start of an episode is judged on the value itself (it
        is already above normal), its growth on the run rate, value / elapsed, so an hour that merely fills up at a
        steady rate is one message, and one whose rate doubles is another. `team`: the spend of this person's team in
        the same step and its usual (`lifted_by_team`).
        """
        if index < self.last_index or (index == self.last_index and not self.in_episode):
            return None
        again = index == self.last_index
        self.last_index = index
        base = baseline(history, index, self.cfg)
        if base is None:
            return None
        value = history[index]
        if team is not None:
            base = lifted_by_team(base, value, *team, self.cfg)
        score = _score(value, base, self.cfg)
        worth = value - base.expected >= self.cfg.min_excess
        high = worth and score >= self.cfg.threshold
        alone = value - base.expected >= self.cfg.alone_excess * self.cfg.min_excess and _alone(history, index, score, self.cfg)
        # Only outside an episode: inside one, the episode's own hours would carry it past the end of the episode.
        # An hour not worth a message scores 0, so takes cusum_k off, instead of clearing it: bursts with ordinary
        # hours between them (an agent looping with pauses, a retry storm) add up (bench: one more NAB window, a
        # network series' burst cluster; no other figure changed). 0 rather than its own score, which is negative
        # there: between bursts the recent level lifts the expectation and ordinary hours look low.
        cusum = (max(0.0, self.cusum + (score if worth else 0.0) - self.cfg.cusum_k)
                 if self.cfg.cusum_k > 0 and not self.in_episode else 0.0)
        anomalous = worth and (alone or (high and self.last_high) or (self.cfg.cusum_k > 0 and cusum >= self.cfg.cusum_h))
        if again:
            if anomalous and self._grown(value, elapsed, base):
                return self._alert(index, value, elapsed, base, score, "escalation")
            return None
        self.last_high = high
        self.cusum = cusum

        if not self.in_episode:
            if not anomalous:
                return None
            self.in_episode, self.normal_run, self.alerts = True, 0, 0
            return self._alert(index, value, elapsed, base, score, "new")

        if high:
            self.normal_run = 0
            # Grown by the factor since the last alert: worth one more message, then quiet again
            # until it doubles once more. High points only: a normal busy hour after an alert
            # at a quiet hour is not an escalation.
            if self._grown(value, elapsed, base):
                return self._alert(index, value, elapsed, base, score, "escalation")
        else:
            self.normal_run += 1
            if self.normal_run >= self.cfg.cooldown_steps:
                self.in_episode = False
        return None

    def _clamp(self, elapsed: float) -> float:
        return min(1.0, max(elapsed, self.cfg.min_elapsed))

    def _grown(self, value: float, elapsed: float, base: Baseline) -> bool:
        # Twice the rate of the last message, and no less unusual: a night-time alert at $5 followed by a busy hour
        # at $50 that is as far above *its* normal as before is the same episode (a new level), not an escalation.
        rate = value / self._clamp(elapsed)
        return rate >= self.cfg.escalate_factor * self.alert_value and _multiple(rate, base) >= self.alert_multiple

    def _alert(self, index: int, value: float, elapsed: float, base: Baseline, score: float, kind: str
               ) -> SpikeVerdict:
        rate = value / self._clamp(elapsed)
        self.alert_value = rate
        self.alerts += 1
        multiple = _multiple(value, base)
        self.alert_multiple = min(_multiple(rate, base), 1e12)  # JSON-safe
        return SpikeVerdict(index, value, base.expected, score, multiple, kind, self.alerts)


def _alone(history: Sequence[float], index: int, score: float, cfg: SpikeConfig) -> bool:
    """Step `index` is high enough to alert on its own: it is above every step of the last `alone_high_days` (the
    highest in two weeks, by default) and its score reaches `threshold_alone`. With less history than that, it must be
    the highest so far and reach `threshold_alone_young`, or, in the first `young_days`, reach `threshold_alone_new`."""
    if cfg.alone_high_days <= 0:
        return score >= cfg.threshold_alone
    window = cfg.alone_high_days * cfg.points_per_day
    if index < cfg.young_days * cfg.points_per_day:
        return score >= cfg.threshold_alone_new
    if index < window:
        return score >= cfg.threshold_alone_young and history[index] > max(history[:index], default=0.0)
    return score >= cfg.threshold_alone and history[index] > max(history[index - window:index])


def lifted_by_team(base: Baseline, value: float, team_value: float, team_expected: float, cfg: SpikeConfig
                   ) -> Baseline:
    """A person's baseline, lifted by as much as the rest of their team is above its usual in the same step.

    A rise everyone shares (a pricier model made the default, a team hackathon) is the team's spike, told once in its
    channel, not a spike of each of its people. So when the others (the team less this person) spend more than usual by
    at least `min_excess`, the person's expectation is multiplied by the others' ratio (damped as the scores are, so a
    rise from next to nothing is not a huge factor): in log space, the person's score becomes their rise less the
    others'. One far above their peers' rise still alerts; the baseline is never lowered.
    """
    damp = _damp(cfg)
    usual, others = max(team_expected - base.expected, 0.0), max(team_value - value, 0.0)
    if others - usual < cfg.min_excess:
        return base
    return replace(base, expected=(base.expected + damp) * (others + damp) / (usual + damp) - damp)


def usual_steps(team: Sequence[float], indices: Iterable[int], cfg: SpikeConfig) -> dict[int, tuple[float, float]]:
    """A team's value and expected value at these steps: what `scan(..., team=)` takes for each of its people."""
    return {i: (team[i], base.expected) for i in indices if (base := baseline(team, i, cfg)) is not None}


def _multiple(value: float, base: Baseline) -> float:
    if base.expected > 0:
        return value / base.expected
    return math.inf if value > 0 else 1.0


def scan(det: SpikeDetector, series: Sequence[float], current: int, elapsed: float = 1.0,
         team: Mapping[int, tuple[float, float]] | None = None) -> list[SpikeVerdict]:
    """One scan as the bot runs it: the complete points after the last one judged, in order, then the running point
    `current` (series[current] is its value so far, `elapsed` the part of its step gone by). `det` is updated in
    place. `team`: by index, the team's spend and usual spend in that step, when `series` is a person's.

    The running point changes the state only when it alerts (it is judged again, complete, next time); once it has
    alerted, later scans judge it again so that it escalates as it fills up.
    """
    out = []
    team = team or {}
    for i in range(max(det.last_index, 0), current):
        if (v := det.update(series, i, team=team.get(i))) is not None:
            out.append(v)
    trial = det.copy()
    if (v := trial.update(series, current, elapsed, team.get(current))) is not None:
        out.append(v)
        det.__dict__.update(trial.__dict__)
    return out


def with_floor(cfg: SpikeConfig, floor: float) -> SpikeConfig:
    """The config with an owner's *Expected* level (spend per step) as the least expectation."""
    return replace(cfg, floor=max(cfg.floor, floor))


def detect(series: Sequence[float], cfg: SpikeConfig) -> list[SpikeVerdict]:
    """Replay a whole series point by point (complete points only) and return the alerts that would have been sent."""
    det = SpikeDetector(cfg)
    return [v for i in range(len(series)) if (v := det.update(series, i)) is not None]
