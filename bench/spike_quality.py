"""Quality benchmark for bot.domain.spikes: recall, false alarms and delay on labelled series.

Run: python bench/spike_quality.py

Two sets, each replayed point by point through SpikeDetector exactly as the bot would:

(a) Synthetic: hourly spend of 15 teams over 9 weeks (fixed seed), with business hours, quiet
    weekends, day-to-day swings, trend, a holiday, multiplicative noise; injected 1-3 h bursts and
    day-long runaway agents are the labelled windows. Four teams get no anomaly and must stay silent.
(b) NAB: the labelled real/artificial series in shared/nab (see its README.md). Only upward windows
    are scored; windows whose maximum never exceeds the median of the preceding day are listed as
    "non-up" and not counted as misses.

Scoring: an alert inside [start, end] of a window catches it (first one gives the delay); an alert
outside every window is a false alarm. Points before the scoring start (warm-up) are replayed but
neither their alerts nor their windows count. Every series runs with the SpikeConfig defaults; only
step_seconds and min_excess (one rule per set, from warm-up data, see below) differ.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.spikes import SpikeConfig, SpikeDetector, SpikeVerdict  # noqa: E402

SEED = 20240611
HOUR = 3600
SYN_DAYS = 63  # 9 weeks, starting on a Monday at 00:00
SYN_SCORE_FROM = 7 * 24  # first week is warm-up: no windows there, alerts not scored
MONTH_S = 30 * 86400

# min_excess rules: one rule per set, derived from warm-up data only (never from labels).
# Synthetic (USD/h): half of the team's average hour in the warm-up week, at least $1 -- small
# money is not news, and a big team is not paged for a few dollars.
# NAB (unitless): half of the warm-up mean. The mean, not the median, because two spiky NAB series
# have a median of 0, which would make any blip "worth" alerting.
EXCESS_FRACTION = 0.5
SYN_EXCESS_FLOOR = 1.0


@dataclass
class Case:
    name: str
    values: list[float]
    step_seconds: int
    windows: list[tuple[int, int]]  # inclusive index ranges, upward
    score_from: int
    min_excess: float
    non_up: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Result:
    case: Case
    caught: int
    false_alarms: int
    alerts: int
    delays: list[int]
    months: float


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


def _team(rng: random.Random, *, peak: float, shape: str = "office", noise: float = 0.3,
          day_sigma: float = 0.15, weekend: float = 0.15, trend: float = 0.0,
          holiday: bool = False, batch_hour: int | None = None) -> list[float]:
    """Normal (anomaly-free) hourly spend for one team."""
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
    """Add anomalies in place and return their windows.

    A burst of multiple m adds (m - 1) x max(usual value at that hour, team's average hour), so a
    "3x" at 3 a.m. still costs at least two average hours: incidents are sized in money, as a
    runaway loop is, not relative to a near-zero night.
    """
    mean = statistics.fmean(values)
    usual = [statistics.median(values[h::24 * 7]) for h in range(24 * 7)]  # noise-free-ish level
    windows: list[tuple[int, int]] = []
    slots = list(range(SYN_SCORE_FROM + 24, len(values) - 48, 24))  # one day apart at least
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
    cases = []
    for name, params, bursts, runaway in specs:
        values = _team(rng, **params)
        windows = _inject(rng, values, bursts, runaway)
        warm_mean = statistics.fmean(values[:SYN_SCORE_FROM])
        min_excess = max(SYN_EXCESS_FLOOR, EXCESS_FRACTION * warm_mean)
        cases.append(Case(name, values, HOUR, windows, SYN_SCORE_FROM, min_excess))
    return cases


# ---------------------------------------------------------------- NAB set


def nab_dir() -> Path:
    env = os.environ.get("TOKENBOT_NAB_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "nab"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def nab_cases(root: Path) -> list[Case]:
    windows_by_key = json.loads((root / "labels" / "combined_windows.json").read_text())
    cases = []
    for key in sorted(windows_by_key):
        with open(root / "data" / key, newline="") as fh:
            rows = [(_ts(r["timestamp"]), float(r["value"])) for r in csv.DictReader(fh)]
        stamps = [t for t, _ in rows]
        values = [v for _, v in rows]
        step = int(statistics.median((b - a).total_seconds() for a, b in zip(stamps, stamps[1:])))
        score_from = min(int(0.15 * len(values)), 750)
        up, non_up = [], []
        for start_s, end_s in windows_by_key[key]:
            start, end = _ts(start_s), _ts(end_s)
            idx = [i for i, t in enumerate(stamps) if start <= t <= end]
            if not idx or idx[-1] < score_from:
                continue
            lo, hi = max(idx[0], score_from), idx[-1]
            day_before = [v for t, v in rows if 0 < (start - t).total_seconds() <= 86400]
            is_up = bool(day_before) and max(values[lo:hi + 1]) > statistics.median(day_before)
            (up if is_up else non_up).append((lo, hi))
        min_excess = EXCESS_FRACTION * statistics.fmean(values[:score_from])
        name = key.removesuffix(".csv").split("/")[1]
        cases.append(Case(name, values, step, up, score_from, min_excess, non_up))
    return cases


# ---------------------------------------------------------------- scoring


def config_for(case: Case) -> SpikeConfig:
    # Same rule everywhere: only the step and the warm-up-derived min_excess vary per series.
    return SpikeConfig(step_seconds=case.step_seconds, min_excess=case.min_excess)


def replay(case: Case) -> tuple[list[SpikeVerdict], float]:
    det = SpikeDetector(config_for(case))
    alerts = []
    t0 = time.perf_counter()
    for i in range(len(case.values)):
        verdict = det.update(case.values, i)
        if verdict is not None:
            alerts.append(verdict)
    return alerts, time.perf_counter() - t0


def score(case: Case, alerts: list[SpikeVerdict]) -> Result:
    counted = [a.index for a in alerts if a.index >= case.score_from]
    all_windows = case.windows + case.non_up
    false_alarms = sum(1 for i in counted if not any(s <= i <= e for s, e in all_windows))
    delays = []
    for s, e in case.windows:
        hits = [i for i in counted if s <= i <= e]
        if hits:
            delays.append(hits[0] - s)
    months = (len(case.values) - case.score_from) * case.step_seconds / MONTH_S
    return Result(case, len(delays), false_alarms, len(counted), delays, months)


HEADER = (f"{'series':<28} {'step':>5} {'min_exc':>8} {'windows':>7} {'non-up':>6} {'caught':>6} "
          f"{'alerts':>6} {'FA':>4} {'FA/mo':>6} {'delay':>6} {'delay_min':>9}")


def _row(name: str, step: int | None, min_excess: float | None, windows: int, non_up: int,
         caught: int, alerts: int, fa: int, months: float, delays: list[int], delay_min: float | None) -> str:
    step_s = f"{step // 60}m" if step else ""
    exc_s = f"{min_excess:8.3g}" if min_excess is not None else ""
    d_steps = f"{statistics.fmean(delays):6.1f}" if delays else "     -"
    d_min = f"{delay_min:9.0f}" if delay_min is not None else "        -"
    return (f"{name:<28} {step_s:>5} {exc_s:>8} {windows:>7} {non_up:>6} {caught:>6} {alerts:>6} "
            f"{fa:>4} {fa / months if months else 0:6.2f} {d_steps} {d_min}")


def report(title: str, results: list[Result]) -> dict[str, float]:
    print(f"\n== {title}")
    print(HEADER)
    for r in results:
        c = r.case
        d_min = statistics.fmean(r.delays) * c.step_seconds / 60 if r.delays else None
        print(_row(c.name, c.step_seconds, c.min_excess, len(c.windows), len(c.non_up), r.caught,
                   r.alerts, r.false_alarms, r.months, r.delays, d_min))
    windows = sum(len(r.case.windows) for r in results)
    caught = sum(r.caught for r in results)
    fa = sum(r.false_alarms for r in results)
    months = sum(r.months for r in results)
    minutes = [d * r.case.step_seconds / 60 for r in results for d in r.delays]
    all_delays = [d for r in results for d in r.delays]
    print(_row("TOTAL", None, None, windows, sum(len(r.case.non_up) for r in results), caught,
               sum(r.alerts for r in results), fa, months, all_delays,
               statistics.fmean(minutes) if minutes else None))
    return {"recall": caught / windows if windows else float("nan"), "fa_month": fa / months,
            "delay_min": statistics.fmean(minutes) if minutes else float("nan")}


def main() -> None:
    syn = synthetic_cases()
    root = nab_dir()
    nab = nab_cases(root) if (root / "labels" / "combined_windows.json").exists() else []
    points, seconds = 0, 0.0
    results: dict[str, list[Result]] = {"synthetic": [], "nab": []}
    for label, cases in (("synthetic", syn), ("nab", nab)):
        for case in cases:
            alerts, took = replay(case)
            points, seconds = points + len(case.values), seconds + took
            results[label].append(score(case, alerts))

    print(f"defaults: {SpikeConfig(step_seconds=HOUR)}")
    totals = {"synthetic": report("synthetic (hourly USD, seed %d)" % SEED, results["synthetic"])}
    if nab:
        totals["nab"] = report(f"NAB ({root})", results["nab"])
    else:
        print(f"\n(NAB data not found at {root}; set TOKENBOT_NAB_DIR)")

    s = totals["synthetic"]
    quiet_alerts = sum(r.alerts for r in results["synthetic"] if r.case.name.startswith("quiet/"))
    print("\n== summary")
    print(f"synthetic: recall {s['recall']:.1%} (target >= 90%: {'ok' if s['recall'] >= 0.9 else 'MISS'}), "
          f"false alarms {s['fa_month']:.2f}/series-month (target <= 1: "
          f"{'ok' if s['fa_month'] <= 1 else 'MISS'}), mean delay {s['delay_min']:.0f} min, "
          f"alerts on quiet series: {quiet_alerts}")
    if "nab" in totals:
        n = totals["nab"]
        print(f"NAB:       recall {n['recall']:.1%}, false alarms {n['fa_month']:.2f}/series-month, "
              f"mean delay {n['delay_min']:.0f} min")
    print(f"throughput: {points} points in {seconds:.2f} s = {points / seconds:,.0f} points/s")


if __name__ == "__main__":
    main()
