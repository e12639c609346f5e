"""Quality of the spike warnings on labelled series, run the way the product runs them.

Run: python bench/spike_quality.py [--detector new|v1|litellm ...] [--set tune|holdout|synthetic ...]

The product keeps hourly sums per person and team and scans every 5 minutes: the complete hours since the last scan
are judged in order, then the running hour with its spend so far. Every series here is replayed exactly so: raw points
are summed into hours (a complete hour with missing raw points is scaled up to a full hour, an hour with none repeats
the previous one: a gap in the data is not a quiet hour), and a scan runs at every raw timestamp.

Sets:
  synthetic  hourly spend of 15 teams over 9 weeks (fixed seed): business hours, quiet weekends, day-to-day swings,
             trend, holidays, a nightly batch, multiplicative noise; injected 1-3 h bursts and day-long runaway agents
             are the windows (each hour's spend arrives evenly over its twelve 5-minute scans). Four teams get no
             anomaly and must stay silent.
  tune       NAB series (shared/nab, its README) whose crc32(name) % 3 != 0: the detector's defaults were chosen on these.
  holdout    NAB series whose crc32(name) % 3 == 0 (listed in the output): reported apart; the README says how
             each change was chosen and which ones were not tuned with it in view.

Scoring (per set): a window is caught by an alert at a time inside [start, end]; an alert outside every window is a
false alarm (series-months count scored time only); the summary says how many false alarms were at an hour 10x its
usual or more (NAB labels a few anomalies per series: a tweet series' unlabelled 100x hours count as false alarms, and
a budget owner wants to hear of them). Only upward windows count (a window whose maximum never exceeds
the median of the day before is "non-up": alerts inside it are neither hits nor false alarms). The summary also
counts the "strictly upward" windows, whose peak is above everything of the week before: a dip or a change of
pattern can pass the first test, never this one (on NAB, 12 of the 22 holdout windows and 43 of the 76 tune ones). NAB's first 15% (at
most 750 rows) is warm-up: replayed, not scored. Delay: from the window's start (synthetic: the anomaly's start; NAB
windows are centred on the label, so the delay from NAB's label is printed too). NAB scores use NAB's sweeper rules
(scaled sigmoid of the position in or after a window; standard profile A_fp = 0.11, reward-low-FP A_fp = 0.22; TP and
FN weights 1), normalised over the set's upward windows to 0 (no alerts) .. 100 (every window at its start).

Detectors, all in the same run: `new` (bot.domain.spikes, the product's scan function and defaults), `v1` (the detector
before issue 12, bench/spikes_v1.py, scanned as the product did then) and `litellm` (LiteLLM's rule: today's spend above
twice the mean daily spend of the last 7 days, one alert per day). min_excess per series: half the warm-up's mean hour
(synthetic: at least $1), the product's TOKENBOT_SPIKE_MIN_USD stand-in; never from labels.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import statistics
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import spikes_v1  # noqa: E402
from bot.domain import spikes  # noqa: E402

SEED = 20240611
HOUR = 3600
DAY = 86400
MONTH_S = 30 * DAY
SYN_DAYS = 63  # 9 weeks, starting on a Monday at 00:00 UTC
SYN_START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
SYN_SCORE_FROM = 7 * 24  # first week is warm-up
SYN_SUBSTEPS = 12  # 5-minute scans per hour
EXCESS_FRACTION = 0.5
SYN_EXCESS_FLOOR = 1.0
HOLDOUT_MOD = 3
OVERRIDES = json.loads(os.environ.get("SPIKE_OVERRIDES", "{}"))  # tuning only: SpikeConfig fields over the defaults


@dataclass
class Case:
    name: str
    split: str  # synthetic | tune | holdout
    stamps: list[int]  # raw timestamps (epoch seconds), one scan each
    values: list[float]  # raw values
    step: int  # raw step, seconds
    windows: list[tuple[int, int]]  # upward windows, epoch seconds inclusive
    labels: list[int]  # labelled anomaly time per window (NAB) or the window start (synthetic)
    score_from: int  # epoch seconds
    min_excess: float = 0.0
    non_up: list[tuple[int, int]] = field(default_factory=list)
    strict: list[bool] = field(default_factory=list)  # per window: its peak is above everything of the week before


# ---------------------------------------------------------------- synthetic set


def _profile(hour: int, shape: str) -> float:
    """Relative spend by hour of day (1.0 = busy hour)."""
    if shape == "flat":  # 24/7 service with a mild daytime bump
        return 0.8 + 0.2 * math.sin(math.pi * max(0, hour - 6) / 18) if 6 <= hour < 24 else 0.8
    if 9 <= hour < 18:
        return 0.75 + 0.25 * math.sin(math.pi * (hour - 9) / 9)
    if 7 <= hour < 9 or 18 <= hour < 21:
        return 0.3
    return 0.06


def normal_spend(rng: random.Random, *, peak: float, shape: str = "office", noise: float = 0.3,
          day_sigma: float = 0.15, weekend: float = 0.15, trend: float = 0.0,
          holiday: bool = False, batch_hour: int | None = None) -> list[float]:
    """Normal (anomaly-free) hourly spend of one team (or, in bench/team_spikes.py, one person)."""
    holiday_day = rng.choice([d for d in range(14, SYN_DAYS) if d % 7 < 5]) if holiday else -1
    out = []
    for day in range(SYN_DAYS):
        day_level = rng.lognormvariate(0, day_sigma) * (1 + trend * day / SYN_DAYS)
        quiet = (day % 7 >= 5 and shape == "office") or day == holiday_day
        for hour in range(24):
            level = _profile(hour, shape) * (weekend if quiet else 1.0)
            if batch_hour is not None and hour == batch_hour:
                level += 4.0  # the nightly batch job: a big spike that is normal every day
            out.append(peak * level * day_level * rng.lognormvariate(0, noise))
    return out


def _inject(rng: random.Random, values: list[float], bursts: int, runaway: bool) -> list[tuple[int, int]]:
    """Add anomalies in place and return their (first, last) hour indices.

    A burst of multiple m adds (m - 1) x max(usual value at that hour, team's average hour), so a "3x" at 3 a.m. still
    costs at least two average hours: incidents are sized in money, as a runaway loop is.
    """
    mean = statistics.fmean(values)
    usual = [statistics.median(values[h::24 * 7]) for h in range(24 * 7)]
    windows: list[tuple[int, int]] = []
    slots = list(range(SYN_SCORE_FROM + 24, len(values) - 48, 24))
    rng.shuffle(slots)
    events = (["runaway"] if runaway else []) + ["burst"] * bursts
    for kind, day_start in zip(events, slots):
        start = day_start + rng.randrange(24)
        if kind == "burst":
            length, mult = rng.randint(1, 3), rng.uniform(3, 20)
        else:
            length, mult = 24, rng.uniform(2, 4)
        if any(start <= e + 72 and s <= start + length + 72 for s, e in windows):
            continue  # keep incidents 3 days apart so each window is judged on its own
        for i in range(start, start + length):
            extra = (mult - 1) * max(usual[i % (24 * 7)], mean)
            values[i] += extra * rng.lognormvariate(0, 0.15)
        windows.append((start, start + length - 1))
    return sorted(windows)


def synthetic_cases() -> list[Case]:
    rng = random.Random(SEED)
    specs: list[tuple[str, dict, int, bool]] = [  # name, team params, bursts, runaway day
        ("syn/research", dict(peak=40, noise=0.3, trend=0.3), 3, True),
        ("syn/platform", dict(peak=15, noise=0.25, holiday=True), 3, False),
        ("syn/support", dict(peak=8, noise=0.35, day_sigma=0.2), 2, True),
        ("syn/data-eng", dict(peak=25, noise=0.3, batch_hour=2), 3, False),
        ("syn/growth", dict(peak=5, noise=0.4, weekend=0.3), 3, False),
        ("syn/ml-infra", dict(peak=60, noise=0.2, trend=0.4), 2, True),
        ("syn/legal", dict(peak=3, noise=0.4), 2, True),
        ("syn/sales", dict(peak=12, noise=0.3, weekend=0.05, holiday=True), 4, False),
        ("syn/agents-247", dict(peak=10, shape="flat", noise=0.25), 3, True),
        ("syn/design", dict(peak=6, noise=0.35, trend=-0.1), 3, False),
        ("syn/search", dict(peak=30, noise=0.3, day_sigma=0.25), 2, True),
        ("quiet/finance", dict(peak=20, noise=0.3, trend=0.2, holiday=True), 0, False),
        ("quiet/batch-247", dict(peak=5, shape="flat", noise=0.2, batch_hour=2), 0, False),
        ("quiet/tiny", dict(peak=0.055, shape="flat", noise=0.8, day_sigma=0.3), 0, False),
        ("quiet/hectic", dict(peak=4, noise=0.45, day_sigma=0.3, weekend=0.4), 0, False),
    ]
    step = HOUR // SYN_SUBSTEPS
    cases = []
    for name, params, bursts, runaway in specs:
        hourly = normal_spend(rng, **params)
        idx_windows = _inject(rng, hourly, bursts, runaway)
        stamps = [SYN_START + h * HOUR + (k + 1) * step - step for h in range(len(hourly)) for k in range(SYN_SUBSTEPS)]
        values = [v / SYN_SUBSTEPS for v in hourly for _ in range(SYN_SUBSTEPS)]
        windows = [(SYN_START + s * HOUR, SYN_START + (e + 1) * HOUR - 1) for s, e in idx_windows]
        warm_mean = statistics.fmean(hourly[:SYN_SCORE_FROM])
        strict = [max(hourly[s:e + 1]) > max(hourly[max(0, s - 7 * 24):s], default=0.0) for s, e in idx_windows]
        cases.append(Case(name, "synthetic", stamps, values, step, windows, [w[0] for w in windows],
                          SYN_START + SYN_SCORE_FROM * HOUR,
                          max(SYN_EXCESS_FLOOR, EXCESS_FRACTION * warm_mean), strict=strict))
    return cases


# ---------------------------------------------------------------- NAB set


def nab_dir() -> Path:
    env = os.environ.get("TOKENBOT_NAB_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "nab"


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp())


def split_of(name: str) -> str:
    return "holdout" if zlib.crc32(name.encode()) % HOLDOUT_MOD == 0 else "tune"


def nab_cases(root: Path) -> list[Case]:
    windows_by_key = json.loads((root / "labels" / "combined_windows.json").read_text())
    labels_by_key = json.loads((root / "labels" / "combined_labels.json").read_text())
    cases = []
    for key in sorted(windows_by_key):
        with open(root / "data" / key, newline="") as fh:
            rows = [(_ts(r["timestamp"]), float(r["value"])) for r in csv.DictReader(fh)]
        stamps = [t for t, _ in rows]
        values = [v for _, v in rows]
        step = int(statistics.median(b - a for a, b in zip(stamps, stamps[1:])))
        score_from = stamps[min(int(0.15 * len(values)), 750)]
        labels = [_ts(x) for x in labels_by_key.get(key, [])]
        up, non_up, up_labels, strict = [], [], [], []
        for start_s, end_s in windows_by_key[key]:
            start, end = _ts(start_s), _ts(end_s)
            if end < score_from:
                continue
            start = max(start, score_from)
            inside = [v for t, v in rows if start <= t <= end]
            day_before = [v for t, v in rows if 0 < start - t <= DAY]
            is_up = bool(inside) and bool(day_before) and max(inside) > statistics.median(day_before)
            (up if is_up else non_up).append((start, end))
            if is_up:
                up_labels.append(next((x for x in labels if start <= x <= end), (start + end) // 2))
                week_before = [v for t, v in rows if 0 < start - t <= 7 * DAY]
                strict.append(bool(week_before) and max(inside) > max(week_before))
        # min_excess: half the warm-up's mean hour (hourly sums), the mean because some series have a median of 0
        warm = [v for t, v in rows if t < score_from]
        per_hour = HOUR / step if step < HOUR else 1.0
        name = key.removesuffix(".csv").split("/")[1]
        cases.append(Case(name, split_of(name), stamps, values, step, up, up_labels, score_from,
                          EXCESS_FRACTION * statistics.fmean(warm) * per_hour, non_up, strict))
    return cases


# ---------------------------------------------------------------- replay as the product runs


class Runner(Protocol):
    def scan(self, series: list[float], current: int, now: int) -> list[float]:
        """Judge hours up to `current` (running, partial); return one multiple of the usual per alert sent."""


class NewRunner:
    def __init__(self, min_excess: float) -> None:
        self.cfg = spikes.SpikeConfig(step_seconds=HOUR, min_excess=min_excess, **OVERRIDES)
        self.det = spikes.SpikeDetector(self.cfg)
        self.calls = 0

    def scan(self, series: list[float], current: int, now: int) -> list[float]:
        elapsed = ((now - 1) % HOUR + 1) / HOUR  # `now` is the end of the data: an hour boundary means all of it
        verdicts = spikes.scan(self.det, series, current, elapsed)
        self.calls += 1
        return [v.multiple for v in verdicts]


class V1Runner:
    """The scan loop of bot/features/warnings.py before issue 12."""

    def __init__(self, min_excess: float) -> None:
        self.cfg = spikes_v1.SpikeConfig(step_seconds=HOUR, min_excess=min_excess)
        self.det = spikes_v1.SpikeDetector(self.cfg)
        self.calls = 0

    def scan(self, series: list[float], current: int, now: int) -> list[float]:
        out = []
        for h in range(self.det.last_index + 1, current):
            if (v := self.det.update(series, h)) is not None:
                out.append(v.multiple)
        trial = spikes_v1.SpikeDetector.from_state(self.cfg, self.det.state())
        if (v := trial.update(series, current)) is not None:
            self.det = trial
            out.append(v.multiple)
        self.calls += 1
        return out


class LiteLLMRunner:
    """Today's spend (UTC day, so far) above 2x the mean daily spend of the last 7 days: one alert per day."""

    def __init__(self, min_excess: float, first_hour: int) -> None:
        self.first_hour = first_hour  # epoch hour of series[0]
        self.alerted_day = -1
        self.calls = 0

    def scan(self, series: list[float], current: int, now: int) -> list[float]:
        self.calls += 1
        day = (self.first_hour + current) // 24
        if day == self.alerted_day:
            return []
        day_start = day * 24 - self.first_hour
        past_start = max(0, day_start - 7 * 24)
        if day_start - past_start < 24:
            return []
        mean_day = sum(series[past_start:day_start]) / ((day_start - past_start) / 24)
        today = sum(series[max(0, day_start):current + 1])
        if today > 2 * mean_day:
            self.alerted_day = day
            return [today / mean_day if mean_day > 0 else math.inf]
        return []


def replay(case: Case, make: Callable[[int], Runner]) -> tuple[list[tuple[int, float]], int, float]:
    """Alerts of one series (epoch seconds and the largest multiple of the usual alerted on in that scan), the number
    of scans and the seconds spent in the detector."""
    first_hour = case.stamps[0] // HOUR
    runner = make(first_hour)
    n_hours = case.stamps[-1] // HOUR - first_hour + 1
    per_hour = max(1, HOUR // case.step) if case.step < HOUR else 1
    sums = [0.0] * n_hours
    counts = [0] * n_hours
    series: list[float] = []  # what the product's ledger would hold: complete hours filled, then the running one
    alerts: list[tuple[int, float]] = []
    spent = 0.0
    for t, v in zip(case.stamps, case.values):
        h = t // HOUR - first_hour
        while len(series) < h:  # hours completed since the last scan
            k = len(series)
            if counts[k]:
                series.append(sums[k] * per_hour / counts[k] if counts[k] < per_hour else sums[k])
            else:
                series.append(series[-1] if series else 0.0)
        sums[h] += v
        counts[h] += 1
        series.append(sums[h])  # the running hour, spend so far
        t0 = time.perf_counter()
        # The data reach the end of this raw step, or of its hour (raw steps need not start on the hour).
        hit = runner.scan(series, h, min(t + min(case.step, HOUR), (t // HOUR + 1) * HOUR))
        spent += time.perf_counter() - t0
        series.pop()
        if hit:
            alerts.append((t, max(hit)))
    return alerts, len(case.stamps), spent


# ---------------------------------------------------------------- scoring


def _sigmoid(x: float) -> float:
    return -1.0 if x > 3.0 else 2 / (1 + math.exp(5 * x)) - 1


@dataclass
class Score:
    windows: int = 0
    caught: int = 0
    strict_windows: int = 0  # windows whose peak is above everything of the week before: a spike by any reading
    strict_caught: int = 0
    false_alarms: int = 0
    false_alarms_10x: int = 0  # of which the hour alerted on was at least 10x its usual: unlabelled, not unremarkable
    alerts: int = 0
    months: float = 0.0
    delays_min: list[float] = field(default_factory=list)
    label_delays_min: list[float] = field(default_factory=list)
    nab_raw: dict[str, float] = field(default_factory=lambda: {"standard": 0.0, "low_fp": 0.0})

    def add(self, other: Score) -> None:
        self.windows += other.windows
        self.caught += other.caught
        self.strict_windows += other.strict_windows
        self.strict_caught += other.strict_caught
        self.false_alarms += other.false_alarms
        self.false_alarms_10x += other.false_alarms_10x
        self.alerts += other.alerts
        self.months += other.months
        self.delays_min += other.delays_min
        self.label_delays_min += other.label_delays_min
        for k in self.nab_raw:
            self.nab_raw[k] += other.nab_raw[k]

    def nab(self, profile: str) -> float:
        null, perfect = -self.windows, self.windows  # A_fn = A_tp = 1
        return 100 * (self.nab_raw[profile] - null) / (perfect - null) if self.windows else float("nan")


FP_WEIGHTS = {"standard": 0.11, "low_fp": 0.22}


def score(case: Case, alerts: list[tuple[int, float]]) -> Score:
    multiples = sorted((t, m) for t, m in alerts if t >= case.score_from)
    counted = [t for t, _ in multiples]
    s = Score(windows=len(case.windows), alerts=len(counted),
              months=(case.stamps[-1] - case.score_from) / MONTH_S)
    max_tp = _sigmoid(-1.0)
    for (start, end), label, strict in zip(case.windows, case.labels, case.strict or [False] * len(case.windows)):
        hits = [t for t in counted if start <= t <= end]
        s.strict_windows += strict
        s.strict_caught += strict and bool(hits)
        if hits:
            s.caught += 1
            s.delays_min.append((hits[0] - start) / 60)
            s.label_delays_min.append((hits[0] - label) / 60)
            pos = -(end - hits[0] + case.step) / (end - start + case.step)
            for k in s.nab_raw:
                s.nab_raw[k] += _sigmoid(pos) / max_tp
        else:
            for k in s.nab_raw:
                s.nab_raw[k] -= 1.0
    for t, multiple in multiples:
        if any(a <= t <= b for a, b in case.windows + case.non_up):
            continue
        s.false_alarms += 1
        s.false_alarms_10x += multiple >= 10
        before = [(a, b) for a, b in case.windows if b < t]
        for k, w in FP_WEIGHTS.items():
            if before:
                a, b = before[-1]
                s.nab_raw[k] += w * _sigmoid((t - b) / max(b - a, case.step))
            else:
                s.nab_raw[k] -= w
    return s


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.0f}" if xs else "      -"


def line(name: str, s: Score) -> str:
    fa_mo = s.false_alarms / s.months if s.months else 0.0
    return (f"{name:<36} {s.windows:>3} {s.caught:>4} {s.alerts:>6} {s.false_alarms:>4} {fa_mo:6.2f} "
            f"{_med(s.delays_min)} {_med(s.label_delays_min)} {s.nab('standard'):6.1f} {s.nab('low_fp'):6.1f}")


HEADER = (f"{'series':<36} {'win':>3} {'hit':>4} {'alerts':>6} {'FA':>4} {'FA/mo':>6} {'dly_min':>7} {'lbl_min':>7} "
          f"{'NABstd':>6} {'NABlfp':>6}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", action="append", choices=["new", "v1", "litellm"])
    ap.add_argument("--set", action="append", choices=["synthetic", "tune", "holdout"])
    ap.add_argument("--series", action="store_true", help="print every series, not only the totals")
    args = ap.parse_args()
    detectors = args.detector or ["new", "v1", "litellm"]
    sets = args.set or ["synthetic", "tune", "holdout"]

    cases = synthetic_cases() if "synthetic" in sets else []
    root = nab_dir()
    if {"tune", "holdout"} & set(sets):
        if not (root / "labels" / "combined_windows.json").exists():
            sys.exit(f"NAB data not found at {root}; set TOKENBOT_NAB_DIR")
        cases += [c for c in nab_cases(root) if c.split in sets]
    holdout = [c.name for c in cases if c.split == "holdout"]
    if holdout:
        print(f"held-out NAB series (crc32(name) % {HOLDOUT_MOD} == 0, reported apart): {', '.join(holdout)}")
    print(f"defaults: {spikes.SpikeConfig(step_seconds=HOUR)}")

    makers: dict[str, Callable[[Case], Callable[[int], Runner]]] = {
        "new": lambda c: lambda fh: NewRunner(c.min_excess),
        "v1": lambda c: lambda fh: V1Runner(c.min_excess),
        "litellm": lambda c: lambda fh: LiteLLMRunner(c.min_excess, fh),
    }
    summary = []
    for det in detectors:
        scans, seconds = 0, 0.0
        totals = {name: Score() for name in sets}
        rows = []
        for c in cases:
            alerts, n, took = replay(c, makers[det](c))
            scans, seconds = scans + n, seconds + took
            s = score(c, alerts)
            totals[c.split].add(s)
            rows.append(line(f"{c.split[:3]} {c.name}", s))
        print(f"\n== detector {det}")
        print(HEADER)
        if args.series:
            print("\n".join(rows))
        for name in sets:
            print(line(f"TOTAL {name}", totals[name]))
            summary.append((det, name, totals[name]))
        print(f"throughput: {scans:,} scans in {seconds:.2f} s = {scans / seconds:,.0f} scans/s "
              f"({scans / seconds * 24:,.0f} series-days of 5-minute scans per second)")

    print("\n== summary (goal: NAB holdout >= 13/15 of upward windows = 87% at <= 0.5 FA/series-month; "
          "synthetic recall >= 90%, < 0.3 FA/series-month, median delay < 60 min)")
    for det, name, s in summary:
        fa_mo = s.false_alarms / s.months if s.months else 0.0
        recall = s.caught / s.windows if s.windows else float("nan")
        delay = statistics.median(s.delays_min) if s.delays_min else float("nan")
        print(f"{det:<8} {name:<10} recall {s.caught:>3}/{s.windows:<3} = {recall:6.1%}  "
              f"FA {fa_mo:5.2f}/series-month  median delay {delay:5.0f} min  "
              f"NAB standard {s.nab('standard'):5.1f}  reward-low-FP {s.nab('low_fp'):5.1f}  "
              f"strictly upward {s.strict_caught}/{s.strict_windows}  "
              f"FA at >= 10x usual {s.false_alarms_10x}/{s.false_alarms}")


if __name__ == "__main__":
    main()
