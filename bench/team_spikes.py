"""Spike warnings for people inside a team: is a rise everyone shares one team message, and is one person's own still
theirs? Synthetic, fixed seed; the detector and defaults of bot.domain.spikes, scanned hour by hour as the bot does.

Run: python bench/team_spikes.py   (SPIKE_OVERRIDES='{"field": value}' tries other SpikeConfig values)

Each of 12 teams has 4 to 12 people (office hours, each with their own level and noise) over 9 weeks. Injected, at
least three days apart: team-wide rises (every person 2.5-6x for 3-8 hours: a pricier model made the default, a
hackathon) and personal incidents (one person 5-20x for 1-3 hours, or 2-4x for a day: a loop, a runaway agent).
Counted for people, with and without judging them against the rest of their team (`team` in spikes.scan):
- DMs during a team-wide rise to people who merely shared it (unwanted: the team's channel has it);
- personal incidents caught (a DM to that person inside it) and DMs outside every incident and rise (false alarms);
and, for the teams, how many team-wide rises their channel was told of (the same in both runs).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spike_quality import normal_spend  # noqa: E402
from bot.domain import spikes  # noqa: E402

SEED = 20261123
DAYS = 63
WARMUP = 7 * 24  # first week: history only
MIN_EXCESS = 5.0  # TOKENBOT_SPIKE_MIN_USD's default
OVERRIDES = json.loads(os.environ.get("SPIKE_OVERRIDES", "{}"))  # tuning only: SpikeConfig fields over the defaults


@dataclass
class Team:
    people: list[list[float]]
    shared: list[tuple[int, int]]  # team-wide rises, first and last hour
    own: list[tuple[int, int, int]]  # personal incidents: person, first and last hour


def build(rng: random.Random) -> list[Team]:
    teams = []
    for _ in range(12):
        people = [normal_spend(rng, peak=rng.uniform(2, 15), noise=rng.uniform(0.25, 0.45), day_sigma=0.2)
                  for _ in range(rng.randint(4, 12))]
        busy: list[tuple[int, int]] = []
        shared: list[tuple[int, int]] = []
        own: list[tuple[int, int, int]] = []
        for kind in rng.sample(["shared"] * 3 + ["own"] * 4, 7):
            start = rng.randrange(WARMUP + 24, DAYS * 24 - 48)
            length = rng.randint(3, 8) if kind == "shared" else rng.choice([1, 2, 3, 24])
            if any(start <= e + 72 and s <= start + length + 72 for s, e in busy):
                continue
            busy.append((start, start + length - 1))
            if kind == "shared":
                factor = rng.uniform(2.5, 6)
                for series in people:
                    for h in range(start, start + length):
                        series[h] *= factor
                shared.append((start, start + length - 1))
            else:
                p = rng.randrange(len(people))
                series = people[p]
                mean = sum(series[:WARMUP]) / WARMUP
                factor = rng.uniform(2, 4) if length == 24 else rng.uniform(5, 20)
                for h in range(start, start + length):
                    series[h] += (factor - 1) * max(series[h], mean)
                own.append((p, start, start + length - 1))
        teams.append(Team(people, shared, own))
    return teams


def alerts(series: list[float], cfg: spikes.SpikeConfig, team: dict[int, tuple[float, float]] | None = None
           ) -> list[int]:
    """Hours alerted on, scanning once an hour (each hour judged when it is complete). `team`: by hour, the team's
    spend and usual spend."""
    det = spikes.SpikeDetector(cfg)
    out = []
    for h in range(len(series)):
        out += [v.index for v in spikes.scan(det, series, h, 1.0, team) if v.index >= WARMUP]
    return out


def main() -> None:
    cfg = spikes.SpikeConfig(step_seconds=3600, min_excess=MIN_EXCESS, **OVERRIDES)
    t0 = time.perf_counter()
    teams = build(random.Random(SEED))
    people = sum(len(t.people) for t in teams)
    totals = [[sum(xs) for xs in zip(*t.people)] for t in teams]
    usual = [spikes.usual_steps(total, range(len(total)), cfg) for total in totals]
    told = [{(s, e) for s, e in t.shared if any(s <= h <= e for h in alerts(total, cfg))}
            for t, total in zip(teams, totals)]
    figures = {}
    for mode in ("alone", "against the team"):
        shared_dms = untold_dms = own_caught = own_total = false = 0
        for t, team, team_told in zip(teams, usual, told):
            for p, series in enumerate(t.people):
                hits = alerts(series, cfg, team if mode != "alone" else None)
                mine = [(s, e) for q, s, e in t.own if q == p]
                own_total += len(mine)
                own_caught += sum(any(s <= h <= e for h in hits) for s, e in mine)
                shared_dms += sum(1 for h in hits if any(s <= h <= e for s, e in t.shared))
                untold_dms += sum(1 for h in hits if any(s <= h <= e for s, e in set(t.shared) - team_told))
                false += sum(1 for h in hits if not any(s <= h <= e for s, e in t.shared + mine))
        figures[mode] = (shared_dms, untold_dms, own_caught, own_total, false)
    months = people * (DAYS * 24 - WARMUP) / (30 * 24)
    shared_total = sum(len(t.shared) for t in teams)
    print(f"{len(teams)} teams, {people} people, {shared_total} team-wide rises, "
          f"{sum(len(t.own) for t in teams)} personal incidents, {months:.0f} person-months "
          f"({time.perf_counter() - t0:.1f} s)")
    print(f"team channels told of {sum(map(len, told))} of the {shared_total} team-wide rises (the others: "
          "too little above the team's usual hours to pass its gates)")
    for mode, (shared_dms, untold, caught, total, false) in figures.items():
        print(f"people judged {mode:<17} DMs in team-wide rises {shared_dms:>3} (in rises the channel was not told "
              f"of: {untold})  personal incidents caught {caught}/{total}  other DMs {false} = "
              f"{false / months:.2f} per person-month")


if __name__ == "__main__":
    main()
