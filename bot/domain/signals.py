"""Runaway and tokenmaxxing signals, judged from requests and daily spend alone (no I/O): a loop (the same prompt
fingerprint over and over within minutes), a runaway session (one session or trace id burning far above the person's
usual hourly spend) and burn without outcome (days of heavy spend with no merged PR or deploy while the team ships).

Each finding names its episode, so the scan sends it once: a loop by its person, fingerprint and first request; a
session by its id; idle burn by the first day of the streak. A person's *This is expected* raises what counts for
them (`levels`): the next finding must be at least twice as big."""
from __future__ import annotations

import hashlib
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOOP = "loop"
RUNAWAY = "runaway"
IDLE = "idle"
KINDS = (LOOP, RUNAWAY, IDLE)
DAY_S = 86400
# A fingerprint is a hash (hex or base64), never a prompt: anything else is not used for loop detection.
FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9+/=_-]{8,128}$")


@dataclass(frozen=True)
class Request:
    """One usage event as the signals see it: no prompt text, only its fingerprint (a hash) if the source sent one."""
    ts: int
    person_id: int
    cost_micros: int
    model: str
    fingerprint: str | None = None
    session: str | None = None  # a session or trace id


@dataclass(frozen=True)
class SignalConfig:
    loop_requests: int = 20  # this many requests with one fingerprint ...
    loop_window_s: int = 600  # ... within this many seconds is a loop
    loop_gap_s: int = 1800  # this long without the fingerprint ends the episode
    loop_severe_requests: int = 100
    runaway_factor: float = 8.0  # a session's spend in any hour above this many times the usual hour
    runaway_min_micros: int = 20_000_000  # and above $20 in that hour
    runaway_floor_micros: int = 2_000_000  # the usual hour is at least $2 (a new person has no history)
    runaway_severe_factor: float = 3.0  # severe: this many times the runaway line
    runaway_min_requests: int = 5  # one huge request is not a session running away (LiteLLM's trace id is per call)
    idle_day_micros: int = 50_000_000  # burn without outcome: over $50 a day ...
    idle_days: int = 3  # ... on this many days in a row ...
    idle_severe_days: int = 7


@dataclass(frozen=True)
class Finding:
    kind: str  # loop | runaway | idle
    person_id: int
    episode: str  # with kind and person: the warning's key (`<kind>:person:<id>:<episode>`)
    detected_at: int  # when the evidence was complete (epoch seconds)
    severe: bool
    level: int  # what *This is expected* makes usual: loop requests, runaway micros per hour, idle micros per day
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:person:{self.person_id}:{self.episode}"


def short_hash(text: str, n: int = 16) -> str:
    """An id someone else chose (a session id, a fingerprint) made safe for a button value and a key."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def loops(requests: Iterable[Request], cfg: SignalConfig, now_ts: int, levels: Mapping[int, int] | None = None
          ) -> list[Finding]:
    """Per person and fingerprint: an episode (requests no further apart than loop_gap_s) is a loop once
    loop_requests of its requests fall within loop_window_s. Found at the request that completes the window."""
    by_key: dict[tuple[int, str], list[Request]] = defaultdict(list)
    for r in requests:
        if r.fingerprint and r.ts <= now_ts:
            by_key[(r.person_id, r.fingerprint)].append(r)
    out = []
    for (pid, fp), rs in sorted(by_key.items()):
        rs.sort(key=lambda r: r.ts)
        need = max(cfg.loop_requests, 2 * (levels or {}).get(pid, 0))
        for episode in _episodes(rs, cfg.loop_gap_s):
            hit = _first_window(episode, need, cfg.loop_window_s)
            if hit is None:
                continue
            first, last = episode[0], episode[-1]
            cost = sum(r.cost_micros for r in episode)
            minutes = max(1.0, (last.ts - first.ts) / 60)
            models = _top(episode)
            out.append(Finding(LOOP, pid, f"{short_hash(fp)}:{first.ts}", hit, len(episode) >= cfg.loop_severe_requests,
                               len(episode), {"requests": len(episode), "first": first.ts, "last": last.ts,
                                              "minutes": round(minutes), "cost_micros": cost, "model": models,
                                              "fingerprint": short_hash(fp, 8)}))
    return out


def _episodes(rs: list[Request], gap_s: int) -> list[list[Request]]:
    out: list[list[Request]] = []
    for r in rs:
        if out and r.ts - out[-1][-1].ts <= gap_s:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def _first_window(rs: list[Request], need: int, window_s: int) -> int | None:
    """The time of the request that first makes `need` requests within `window_s`, or None."""
    for j in range(need - 1, len(rs)):
        if rs[j].ts - rs[j - need + 1].ts <= window_s:
            return rs[j].ts
    return None


def _top(rs: Iterable[Request]) -> str:
    spent: dict[str, int] = defaultdict(int)
    for r in rs:
        spent[r.model] += max(r.cost_micros, 1)
    return max(sorted(spent), key=lambda m: spent[m]) if spent else ""


def usual_hour(hourly_micros: Iterable[int], cfg: SignalConfig) -> int:
    """A person's usual hour of spend: the 90th percentile of their hours with any spend (four weeks), at least the
    floor. Not the mean, so one past runaway does not make the next look normal; not the median, so heavy days do."""
    active = sorted(v for v in hourly_micros if v > 0)
    if len(active) < 5:
        return cfg.runaway_floor_micros
    p90 = statistics.quantiles(active, n=10, method="inclusive")[-1]
    return max(cfg.runaway_floor_micros, round(p90))


def runaways(requests: Iterable[Request], usual: Mapping[int, int], cfg: SignalConfig, now_ts: int,
             levels: Mapping[int, int] | None = None) -> list[Finding]:
    """Per person and session: a runaway once the session's spend in some trailing hour passes
    max(runaway_factor x the person's usual hour, runaway_min, 2 x an hour marked expected)."""
    by_key: dict[tuple[int, str], list[Request]] = defaultdict(list)
    for r in requests:
        if r.session and r.ts <= now_ts:
            by_key[(r.person_id, r.session)].append(r)
    out = []
    for (pid, session), rs in sorted(by_key.items()):
        rs.sort(key=lambda r: r.ts)
        base = usual.get(pid, cfg.runaway_floor_micros)
        line = max(round(cfg.runaway_factor * base), cfg.runaway_min_micros, 2 * (levels or {}).get(pid, 0))
        i, window, peak, hit = 0, 0, 0, None
        for j, r in enumerate(rs):
            window += r.cost_micros
            while r.ts - rs[i].ts >= 3600:
                window -= rs[i].cost_micros
                i += 1
            peak = max(peak, window)
            if hit is None and window >= line:
                hit = r.ts
        if hit is None or len(rs) < cfg.runaway_min_requests:
            continue
        out.append(Finding(RUNAWAY, pid, short_hash(session), hit, peak >= cfg.runaway_severe_factor * line, peak,
                           {"hour_micros": peak, "usual_micros": base, "times": round(peak / base, 1),
                            "cost_micros": sum(r.cost_micros for r in rs), "requests": len(rs), "first": rs[0].ts,
                            "model": _top(rs), "session": session}))
    return out


def idle_burn(daily: Mapping[int, Mapping[int, int]], person_outcomes: Mapping[int, set[int]],
              team_of: Mapping[int, int], team_outcomes: Mapping[int, Mapping[int, int]], cfg: SignalConfig,
              today: int, levels: Mapping[int, int] | None = None) -> list[Finding]:
    """Burn without outcome. `daily`: person -> UTC day number -> spend; `person_outcomes`: person -> days with an
    outcome; `team_outcomes`: team -> day -> outcomes of its people. A streak is the run of complete days ending
    yesterday (today joins once it is over the line) each over the line with no outcome of the person's; it is
    found when it reaches idle_days while the team recorded outcomes in those days."""
    out = []
    for pid, days in sorted(daily.items()):
        line = max(cfg.idle_day_micros, 2 * (levels or {}).get(pid, 0))
        mine = person_outcomes.get(pid, set())
        streak: list[int] = []
        end = today if days.get(today, 0) >= line and today not in mine else today - 1
        d = end
        while days.get(d, 0) >= line and d not in mine:
            streak.append(d)
            d -= 1
        if len(streak) < cfg.idle_days:
            continue
        streak.reverse()
        team = team_of.get(pid, 0)
        shipped = sum(team_outcomes.get(team, {}).get(d, 0) for d in streak) if team else 0
        if not shipped:
            continue  # nobody in the team ships (or outcomes are not tracked for it): not this person's signal
        spent = sum(days[d] for d in streak)
        out.append(Finding(IDLE, pid, str(streak[0]), (streak[0] + cfg.idle_days) * DAY_S,
                           len(streak) >= cfg.idle_severe_days, spent // len(streak),
                           {"days": len(streak), "spent_micros": spent, "per_day_micros": spent // len(streak),
                            "line_micros": line, "team_outcomes": shipped, "first_day": streak[0]}))
    return out


def request_of(ts: int, person_id: int, cost_micros: int | None, model: str, meta: Any) -> Request:
    """A usage event's row as a Request: the fingerprint the LiteLLM plugin sent (or `prompt_fingerprint` in any
    source's metadata) and a session (`session_id`, Claude Code's `session.id`) or trace id (`trace_id`)."""
    meta = meta if isinstance(meta, dict) else {}
    fp = meta.get("prompt_fingerprint")
    session = meta.get("session_id") or meta.get("session.id") or meta.get("trace_id")
    return Request(ts, person_id, max(cost_micros or 0, 0), model,
                   fp if isinstance(fp, str) and FINGERPRINT_RE.match(fp) else None,
                   session if isinstance(session, str) and session else None)
