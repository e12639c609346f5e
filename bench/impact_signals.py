"""Quality of the runaway and tokenmaxxing signals on a synthetic month of a 200-person org.

Run: python bench/impact_signals.py [--seed 17] [--people 200] [--db-days 7]

With --db-days N, the last N days of the synthetic month (up to a weekday 15:00 UTC) are also ingested into a fresh
SQLite database through the product's ingestion, and the product's scan (`scan_signals`, dry run) is timed there
against its 2-minute interval.

The org: 10 teams of 20, five weeks from a Monday (the first week is history only: the usual hour of a person needs
it; the last four weeks are scored). Workdays: one to three agent sessions per person (a session id each, 20-150
minutes, a request every ~40 s, each with its own prompt fingerprint: an agent's context grows every turn), a few
identical retries now and then (3-12 within two minutes: a flaky tool), outcomes (merged PRs, deploys) on most days.
170 ordinary people (~$3.60 an hour while working); 20 heavy users at 2-3x the request rate and cost (~$20 an hour,
over the idle-burn line most days, shipping on 85% of days) who also run a nightly-CI-like job that sends the same
prompt once a minute for 30-60 minutes. A few people also work at weekends.

Injected, at random times in the scored weeks, into random people:
  loops     40: the same prompt every 2-15 s for 5-30 minutes (sometimes inside a session);
  runaways  20: one session burning 10-30x the person's usual hour (at least $30 an hour) for 1-4 hours;
  idle burn 10: ordinary people spending $70-150 a day for 4-8 workdays with no outcome while their team ships.

How it runs: the product's detectors (bot.domain.signals, default SignalConfig) over the whole month, each finding
sent at the first 2-minute scan at or after the moment its evidence was complete; the runaway line uses the person's
usual hour from the 28 days before the session (the last 3 hours left out), as the scan does; idle burn is judged
once an hour. The scan's exactly-once keys and its 6-hour "same loop" rule are applied. (The product's scan re-reads
the last 3 hours each time, so this equals it for episodes shorter than that; every injected one is.)

Scoring: an injected case is caught by a warning of its kind about its person (loop: inside the loop or 30 minutes
after; runaway: its session; idle: a streak starting in its days). Delay: from the case's start (idle: from its first
day's midnight UTC; three days over the line are the definition, so its delay is at least two days). A false warning
is one about a person with no injected case overlapping it (within an hour; idle: within its days). Person-months:
people x scored days / 30.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.signals import (DAY_S, IDLE, LOOP, RUNAWAY, Finding, Request, SignalConfig, idle_burn,  # noqa: E402
                                loops, runaways, short_hash, usual_hour)

START = 1_791_158_400  # 2026-10-05 00:00 UTC, a Monday
DAYS = 35
WARMUP_DAYS = 7
SCAN_S = 120
LOOP_QUIET_S = 6 * 3600
TEAM_SIZE = 20


@dataclass
class Case:
    kind: str
    person: int
    start: int
    end: int
    session: str | None = None
    days: tuple[int, ...] = ()


@dataclass
class World:
    requests: dict[int, list[Request]]
    outcomes: dict[int, set[int]]  # person -> days with an outcome
    team_outcomes: dict[int, dict[int, int]]
    team_of: dict[int, int]
    heavy: set[int]
    cases: list[Case]


def _session(rng: random.Random, pid: int, t0: int, minutes: float, every_s: float, cost: float, sid: str,
             out: list[Request], fp_prefix: str) -> None:
    t = float(t0)
    end = t0 + minutes * 60
    n = 0
    while t < end:
        out.append(Request(int(t), pid, max(1, round(rng.lognormvariate(0, 0.5) * cost * 1e6 / 1.13)), "claude-sonnet-4-5",
                           f"{fp_prefix}{sid}:{n}", sid))
        if rng.random() < 0.02:  # a flaky tool: the same request retried a few times within two minutes
            same = f"{fp_prefix}{sid}:{n}"
            for k in range(rng.randint(3, 12)):
                out.append(Request(int(t) + 5 + 10 * k, pid, round(cost * 1e6), "claude-sonnet-4-5", same, sid))
        n += 1
        t += rng.expovariate(1 / every_s)


def build(seed: int, people: int) -> World:
    rng = random.Random(seed)
    requests: dict[int, list[Request]] = defaultdict(list)
    outcomes: dict[int, set[int]] = defaultdict(set)
    team_outcomes: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    team_of = {p: p // TEAM_SIZE + 1 for p in range(people)}
    heavy = set(rng.sample(range(people), people // 10))
    weekend = set(rng.sample(range(people), people // 20))
    cases: list[Case] = []
    first_scored = START // DAY_S + WARMUP_DAYS
    # Idle burn: ordinary people, 4-8 workdays in the scored weeks at $70-150 a day, no outcomes then.
    idle: dict[int, set[int]] = {}
    for pid in rng.sample(sorted(set(range(people)) - heavy), 10):
        d0 = first_scored + rng.randrange(0, 18)
        days: list[int] = []
        d = d0
        want = rng.randint(4, 8)
        while len(days) < want:
            if (d - 4) % 7 < 5:  # epoch day 4 (1970-01-05) was a Monday
                days.append(d)
            d += 1
        idle[pid] = set(days)
        cases.append(Case(IDLE, pid, days[0] * DAY_S, (days[-1] + 1) * DAY_S, days=tuple(days)))
    for day in range(START // DAY_S, START // DAY_S + DAYS):
        workday = (day - 4) % 7 < 5
        for pid in range(people):
            if not workday and pid not in weekend:
                continue
            scale = rng.uniform(2.0, 3.0) if pid in heavy else rng.uniform(0.6, 1.4)
            n_sessions = rng.randint(1, 3) if workday else 1
            burn = day in idle.get(pid, ())
            if burn:
                n_sessions = 3
            for s in range(n_sessions):
                t0 = day * DAY_S + rng.randint(8 * 3600, 17 * 3600)
                minutes = rng.uniform(20, 150) * (2.5 if burn else 1)
                cost = 0.04 * scale * (4 if burn else 1)
                _session(rng, pid, t0, minutes, 40 / scale, cost, f"s{pid}-{day}-{s}", requests[pid], "f")
            if pid in heavy and workday and rng.random() < 0.2:  # a CI-like job: one prompt a minute, no session
                t0 = day * DAY_S + rng.randint(1 * 3600, 5 * 3600)
                for k in range(rng.randint(30, 60)):
                    requests[pid].append(Request(t0 + 60 * k + rng.randint(-5, 5), pid, 20_000, "gpt-4o-mini",
                                                 f"ci{pid}", None))
            p_ship = 0.85 if pid in heavy else 0.5
            if workday and not burn and rng.random() < p_ship:
                n = rng.randint(1, 3)
                outcomes[pid].add(day)
                team_outcomes[team_of[pid]][day] += n
    scored_start = first_scored * DAY_S
    scored_end = START + DAYS * DAY_S
    for i in range(40):  # loops
        pid = rng.randrange(people)
        t0 = rng.randrange(scored_start, scored_end - 3600)
        every, minutes = rng.uniform(2, 15), rng.uniform(5, 30)
        sid = f"loop-sess-{i}" if rng.random() < 0.5 else None
        cost = rng.uniform(0.02, 0.3)
        n = int(minutes * 60 / every) + 1
        for k in range(n):
            requests[pid].append(Request(t0 + int(k * every), pid, round(cost * 1e6), "claude-sonnet-4-5",
                                         f"loop-{i}", sid))
        cases.append(Case(LOOP, pid, t0, t0 + int((n - 1) * every), session=sid))
    for i in range(20):  # runaway sessions
        pid = rng.randrange(people)
        t0 = rng.randrange(scored_start, scored_end - 5 * 3600)
        usual = (22 if pid in heavy else 4.5) * 1e6
        rate = max(30e6, rng.uniform(10, 30) * usual)  # micros an hour
        hours, every = rng.uniform(1, 4), rng.uniform(5, 20)
        sid = f"runaway-{i}"
        n = int(hours * 3600 / every)
        for k in range(n):
            requests[pid].append(Request(t0 + int(k * every), pid, round(rate * every / 3600), "claude-opus-4-1",
                                         f"{sid}:{k}", sid))
        cases.append(Case(RUNAWAY, pid, t0, t0 + int(n * every), session=sid))
    for rs in requests.values():
        rs.sort(key=lambda r: r.ts)
    return World(requests, outcomes, team_outcomes, team_of, heavy, cases)


def _tick(ts: int) -> int:
    return -(-ts // SCAN_S) * SCAN_S


def warnings(world: World, cfg: SignalConfig) -> list[tuple[int, Finding]]:
    """(sent at, finding): what the scan every 2 minutes would send, once per key."""
    sent: dict[str, tuple[int, Finding]] = {}
    end = START + DAYS * DAY_S
    for pid, rs in world.requests.items():
        hourly: dict[int, int] = defaultdict(int)
        for r in rs:
            hourly[r.ts // 3600] += r.cost_micros
        last_loop: dict[str, int] = {}
        for f in sorted(loops(rs, cfg, end), key=lambda f: f.detected_at):
            fp = f.episode.split(":")[0]
            at = _tick(f.detected_at)
            if at - last_loop.get(fp, -LOOP_QUIET_S * 2) < LOOP_QUIET_S:
                continue  # the scan's "same loop" rule
            last_loop[fp] = at
            sent[f.key] = (at, f)
        by_session: dict[str, list[Request]] = defaultdict(list)
        for r in rs:
            if r.session:
                by_session[r.session].append(r)
        for session, srs in by_session.items():
            h = srs[0].ts // 3600
            usual = usual_hour([v for hh, v in hourly.items() if h - 28 * 24 <= hh < h - 3], cfg)
            for f in runaways(srs, {pid: usual}, cfg, end):
                sent.setdefault(f.key, (_tick(f.detected_at), f))
    daily: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    spent_by_hour: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for pid, rs in world.requests.items():
        for r in rs:
            spent_by_hour[r.ts // 3600].append((pid, r.ts // DAY_S, r.cost_micros))
    for hour in range(START // 3600, end // 3600):
        for pid, d, c in spent_by_hour.get(hour, ()):
            daily[pid][d] += c
        now = (hour + 1) * 3600
        for f in idle_burn(daily, world.outcomes, world.team_of, world.team_outcomes, cfg, now // DAY_S):
            sent.setdefault(f.key, (_tick(now), f))
    return sorted(sent.values(), key=lambda x: x[0])


def score(world: World, sent: list[tuple[int, Finding]], scored_from: int) -> dict:
    by_person: dict[int, list[tuple[int, Finding]]] = defaultdict(list)
    for at, f in sent:
        by_person[f.person_id].append((at, f))
    out: dict = {k: {"cases": 0, "caught": 0, "delays": [], "missed": []} for k in (LOOP, RUNAWAY, IDLE)}
    for c in world.cases:
        s = out[c.kind]
        s["cases"] += 1
        hits = []
        for at, f in by_person[c.person]:
            if f.kind != c.kind:
                continue
            if c.kind == LOOP and c.start <= f.evidence["first"] <= c.end + 1800 and at <= c.end + 1800:
                hits.append(at)
            elif c.kind == RUNAWAY and f.evidence["session"] == c.session:
                hits.append(at)
            elif c.kind == IDLE and f.evidence["first_day"] in c.days:
                hits.append(at)
        if hits:
            s["caught"] += 1
            s["delays"].append(min(hits) - c.start)
        else:
            s["missed"].append(c)
    false = []
    for at, f in sent:
        if at < scored_from:
            continue
        explained = any(c.person == f.person_id and (
            (c.kind == IDLE and f.kind == IDLE and f.evidence["first_day"] in c.days) or
            (c.kind != IDLE and c.start - 3600 <= at <= c.end + 3600)) for c in world.cases)
        if not explained:
            false.append((at, f))
    out["false"] = false
    return out


async def time_scan(world: World, people: int, days: int) -> str:
    """Ingest the last `days` days into SQLite and time the product's scan at a weekday 15:00 UTC."""
    import tempfile
    from datetime import UTC, datetime

    from bot.app import build_deps
    from bot.clock import ManualClock
    from bot.domain.org import parse_org
    from bot.features.signals import scan_signals
    from bot.settings import load_settings

    end_day = START // DAY_S + DAYS - 1
    while (end_day - 4) % 7 >= 5:
        end_day -= 1
    at = end_day * DAY_S + 15 * 3600
    org = "org: {name: Bench}\nteams:\n" + "".join(
        f"  - {{slug: t{t}, name: Team {t}, timezone: UTC, approvers: [U0BOSS{t:03d}]}}\n"
        for t in range(1, people // TEAM_SIZE + 2)) + "people:\n" + "".join(
        f"  - {{email: p{p}@bench.example, slack_id: U0P{p:05d}, team: t{world.team_of[p]}, gateway_ids: [p{p}]}}\n"
        for p in range(people))
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/signals.db")
        deps = await build_deps(settings, ManualClock(datetime.fromtimestamp(at, UTC)))
        await deps.org.sync(parse_org(org), at)
        items = [{"id": f"r{pid}-{i}", "timestamp": r.ts, "user": f"p{pid}", "model": r.model, "input_tokens": 1000,
                  "output_tokens": 100, "cost_usd": r.cost_micros / 1e6,
                  "metadata": {k: v for k, v in (("prompt_fingerprint", r.fingerprint and short_hash(r.fingerprint, 32)),
                                                 ("session_id", r.session)) if v}}
                 for pid, rs in world.requests.items() for i, r in enumerate(rs) if at - days * DAY_S <= r.ts <= at]
        t0 = time.perf_counter()
        accepted = 0
        for i in range(0, len(items), 2000):
            accepted += (await deps.ingestion.ingest_items(items[i:i + 2000])).accepted
        assert accepted == len(items), (accepted, len(items))
        ingest_s = time.perf_counter() - t0
        window = sum(1 for it in items if it["timestamp"] >= at - 3 * 3600)
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            result = await scan_signals(deps, dry_run=True)
            samples.append(time.perf_counter() - t0)
        await deps.close()
    return (f"product scan on SQLite ({len(items):,} events over {days} days ingested in {ingest_s:.1f} s; "
            f"{window:,} in its 3-hour window; {len(result.found)} findings): median "
            f"{statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms (interval 120,000 ms)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--db-days", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    world = build(args.seed, args.people)
    n_requests = sum(len(rs) for rs in world.requests.values())
    t1 = time.perf_counter()
    sent = warnings(world, SignalConfig())
    t2 = time.perf_counter()
    scored_from = START + WARMUP_DAYS * DAY_S
    result = score(world, sent, scored_from)
    person_months = args.people * (DAYS - WARMUP_DAYS) / 30
    print(f"synthetic org: {args.people} people, {n_requests:,} requests, {DAYS - WARMUP_DAYS} scored days "
          f"({person_months:.0f} person-months), heavy users {len(world.heavy)}; built in {t1 - t0:.1f} s, judged in "
          f"{t2 - t1:.1f} s")
    for kind, label in ((LOOP, "loops"), (RUNAWAY, "runaway sessions"), (IDLE, "idle burn")):
        s = result[kind]
        d = sorted(s["delays"])
        med = statistics.median(d) / 60 if d else float("nan")
        worst = d[-1] / 60 if d else float("nan")
        unit = "min"
        if kind == IDLE:
            med, worst, unit = med / 60, worst / 60, "h"
        print(f"{label:17s} caught {s['caught']:3d}/{s['cases']:3d} ({100 * s['caught'] / max(1, s['cases']):5.1f}%)  "
              f"median delay {med:6.1f} {unit}  max {worst:6.1f} {unit}")
        for c in s["missed"]:
            rs = [r for r in world.requests[c.person] if c.start <= r.ts <= c.end and r.session == c.session]
            print(f"  missed: person {c.person}{' (heavy user)' if c.person in world.heavy else ''}, "
                  f"${sum(r.cost_micros for r in rs) / 1e6:,.2f} over {(c.end - c.start) / 3600:.1f} h")
    loops_ok = result[LOOP]["caught"] == result[LOOP]["cases"] and all(x <= 600 for x in result[LOOP]["delays"])
    false = result["false"]
    rate = len(false) / person_months
    kinds = defaultdict(int)
    for _, f in false:
        kinds[f.kind] += 1
    print(f"goal: every loop caught within 10 minutes: {'ok' if loops_ok else 'NOT MET'}")
    print(f"false warnings: {len(false)} ({dict(kinds)}) = {rate:.3f} per person-month "
          f"(goal < 0.1: {'ok' if rate < 0.1 else 'NOT MET'}); heavy users among them: "
          f"{sum(1 for _, f in false if f.person_id in world.heavy)}")
    for at, f in false[:10]:
        print(f"  false: {f.kind} person {f.person_id} at day {(at - START) / DAY_S:.2f} level {f.level:,}"
              f" {short_hash(f.key, 6)}")
    if args.db_days:
        import asyncio

        print(asyncio.run(time_scan(world, args.people, args.db_days)))
    return 0 if loops_ok and rate < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
