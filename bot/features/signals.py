"""The signals scan: loops, runaway sessions and burn without outcome (bot.domain.signals), each sent once per episode
as a DM to the person, and for a severe one to their team's approvers too. Run by the scheduler every couple of
minutes (a loop is caught within minutes of forming), or `tokenbot scan`.

Exactly once: each finding's key (`signal:<kind>:person:<id>:<episode>`) is claimed in the RunLog before anything is
sent; its row keeps the finding's level, so *This is expected* reads it from the database. A snoozed person's findings
are not claimed: one still going when the snooze ends is sent then."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.domain.signals import IDLE, LOOP, RUNAWAY, DAY_S, Finding, SignalConfig, idle_burn, loops, runaways, usual_hour
from bot.domain.warnings import Muting, muting
from bot.features.deps import Deps
from bot.slack.blocks.signals import signal_blocks, signal_headline, signal_message
from bot.slack.outbox import SlackOutbox
from storage.stores.feedback import FeedbackStore
from storage.stores.runs import RunLog
from storage.stores.signals import SignalStore

log = logging.getLogger(__name__)

LOOKBACK_S = 3 * 3600  # requests read per scan: loops and runaway sessions are judged on these
ALERTABLE_S = {LOOP: 2 * 3600, RUNAWAY: 2 * 3600, IDLE: 2 * DAY_S}  # older findings (after downtime) are not news
LOOP_QUIET_S = 6 * 3600  # a loop of the same prompt longer than the lookback is still the episode already sent
USUAL_DAYS = 28
IDLE_LOOKBACK_DAYS = 21
LEASE_S = 300


@dataclass
class SignalResult:
    found: list[Finding] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (user id, text) sent or, dry, to send
    failed: list[tuple[str, str]] = field(default_factory=list)


def signal_config(deps: Deps) -> SignalConfig:
    """The detectors' thresholds from the settings (TOKENBOT_SIGNAL_*); the rest are SignalConfig's defaults."""
    s = deps.settings
    return SignalConfig(loop_requests=s.signal_loop_requests, loop_window_s=s.signal_loop_window_s,
                        loop_severe_requests=max(SignalConfig.loop_severe_requests, 5 * s.signal_loop_requests),
                        runaway_factor=s.signal_runaway_factor,
                        runaway_min_micros=round(s.signal_runaway_min_usd * 1_000_000),
                        idle_day_micros=round(s.signal_idle_usd_per_day * 1_000_000), idle_days=s.signal_idle_days,
                        idle_severe_days=max(SignalConfig.idle_severe_days, 2 * s.signal_idle_days))


async def find(deps: Deps, cfg: SignalConfig, mutes: dict[tuple[str, int], Muting], now_ts: int) -> list[Finding]:
    """Every finding the data shows now, with each person's *expected* levels applied."""
    store = SignalStore(deps.engine)
    levels = {kind: {sid: m.signal_level(kind) for (scope, sid), m in mutes.items() if scope == "person"}
              for kind in (LOOP, RUNAWAY, IDLE)}
    requests = await store.requests_since(now_ts - LOOKBACK_S, now_ts)
    found = loops(requests, cfg, now_ts, levels[LOOP])
    with_sessions = sorted({r.person_id for r in requests if r.session})
    hour = now_ts // 3600
    # The usual hour leaves out the last three hours: a runaway going on now must not raise its own baseline.
    hourly = await store.hourly(with_sessions, hour - USUAL_DAYS * 24, hour - 3)
    usual = {pid: usual_hour(hourly.get(pid, []), cfg) for pid in with_sessions}
    found += runaways(requests, usual, cfg, now_ts, levels[RUNAWAY])
    today = now_ts // DAY_S
    daily = await store.daily(today - IDLE_LOOKBACK_DAYS, cfg.idle_day_micros)
    if daily:
        person_days, team_days = await store.outcome_days(today - IDLE_LOOKBACK_DAYS)
        people = await deps.org.people_by_id(sorted(daily))
        team_of = {pid: p.team_id or 0 for pid, p in people.items()}
        found += idle_burn(daily, person_days, team_of, team_days, cfg, today, levels[IDLE])
    return found


async def scan_signals(deps: Deps, poster: SlackOutbox | None = None, runs: RunLog | None = None,
                       cfg: SignalConfig | None = None, dry_run: bool = False) -> SignalResult:
    result = SignalResult()
    poster = poster or deps.slack
    if poster is None and not dry_run:
        return result
    runs = runs or RunLog(deps.engine)
    cfg = cfg or signal_config(deps)
    now_ts = int(deps.clock.now().timestamp())
    mutes = muting(await FeedbackStore(deps.engine).in_force(now_ts), now_ts)
    findings = [f for f in await find(deps, cfg, mutes, now_ts) if f.detected_at >= now_ts - ALERTABLE_S[f.kind]
                and not mutes.get(("person", f.person_id), Muting()).signals_muted(now_ts)]
    result.found = findings
    if not findings:
        return result
    store = SignalStore(deps.engine)
    people = await deps.org.people_by_id(sorted({f.person_id for f in findings}))
    teams = {}
    for f in findings:
        person = people.get(f.person_id)
        if person is None or not person.slack_user_id:
            continue
        if f.kind == LOOP:  # the same prompt looping on past the lookback is the episode already warned about
            prefix = f.key.rsplit(":", 1)[0] + ":"
            if await store.sent_since(prefix, now_ts - LOOP_QUIET_S) - {f.key}:
                continue
        team_id = person.team_id or 0
        if team_id and team_id not in teams:
            teams[team_id] = await deps.org.team(team_id)
        team = teams.get(team_id)
        tz = ZoneInfo(team.timezone if team else "UTC")
        who = person.name or person.email
        text = signal_message(f, who, tz, team.name if team else None)
        targets = [(person.slack_user_id, text)]
        if f.severe and team:
            approver_text = signal_message(f, who, tz, team.name, to_approver=True)
            targets += [(u, approver_text) for u in team.approvers if u != person.slack_user_id]
        if dry_run:
            result.messages += targets
            continue
        key = f"signal:{f.key}"
        if not await runs.claim(key, now_ts, LEASE_S):
            continue  # sent already, or being sent by another process
        sent = 0
        for target, body in targets:
            try:
                assert poster is not None
                await poster.post_message(target, signal_headline(body), signal_blocks(body, f.key))
                result.messages.append((target, body))
                sent += 1
            except Exception as exc:  # noqa: BLE001 - logged; the person's DM decides whether to retry
                result.failed.append((target, f"{type(exc).__name__}: {exc}"))
                if target == person.slack_user_id:
                    break
        detail = json.dumps({"level": f.level, "severe": f.severe, "headline": signal_headline(text)[:300]})
        if sent:
            await runs.complete(key, now_ts, detail)
            log.info("signal %s sent to %d", f.key, sent)
        else:  # not even the person's DM went out: the next scan tries again
            await runs.fail(key, now_ts, result.failed[-1][1] if result.failed else "not sent")
    return result


__all__ = ["SignalResult", "find", "scan_signals"]
