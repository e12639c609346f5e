"""The warning scan: budget threshold lines (once per line per period, re-armed by a raise) and spend spikes (once
per episode, escalating when it keeps growing). Run every few minutes by the scheduler, or `tokenbot scan`."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.slack.blocks.warnings import (SpikeContext, spike_message, threshold_actions, threshold_message,
                                       warning_blocks)
from bot.domain.budget import BudgetLine, day_start, effective_budget, month_start, project, raised_in
from bot.features.deps import Deps
from bot.domain.pricing import MICROS_PER_USD
from bot.slack.outbox import SlackOutbox
from bot.domain.spikes import SpikeConfig, SpikeDetector, SpikeVerdict, usual_steps, with_floor
from bot.domain.spikes import scan as scan_series
from bot.domain.warnings import Muting, muting
from bot.domain.summary import windows
from storage.stores.alerts import DEFAULT_THRESHOLDS, AlertStore
from storage.stores.budgets import BudgetStore
from storage.stores.feedback import FeedbackStore
from storage.stores.runs import RunLog

log = logging.getLogger(__name__)

HISTORY_HOURS = 28 * 24 + 6  # four weeks of same-hour samples, plus the neighbouring slots
ALERTABLE_HOURS = 2  # after downtime, older hours update the episode state silently
SPIKE_LEASE_S = 300


@dataclass
class ScanResult:
    messages: list[tuple[str, str]] = field(default_factory=list)  # (channel or user id, text) sent or, dry, to send
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Subject:
    scope: str  # person | team
    id: int
    name: str
    target: str | None  # channel (team) or Slack user id (person DM)
    tz: ZoneInfo
    budget_micros: int | None
    ladder: tuple[int, ...]
    team_id: int | None = None  # a person's team


async def scan(deps: Deps, poster: SlackOutbox | None = None, runs: RunLog | None = None, dry_run: bool = False
               ) -> ScanResult:
    result = ScanResult()
    poster = poster or deps.slack
    if poster is None and not dry_run:
        return result
    runs = runs or RunLog(deps.engine)
    store = AlertStore(deps.engine)
    subjects = await _subjects(deps, store)
    now_ts = int(deps.clock.now().timestamp())
    mutes = muting(await FeedbackStore(deps.engine).in_force(now_ts), now_ts)  # the Snooze and Expected buttons
    await _thresholds(deps, store, poster, subjects, mutes, result, dry_run)
    await _spikes(deps, store, runs, poster, subjects, mutes, result, dry_run)
    return result


async def _subjects(deps: Deps, store: AlertStore) -> dict[tuple[str, int], _Subject]:
    teams = {t.id: t for t in await deps.org.active_teams()}
    ladders = await store.thresholds()
    now = deps.clock.now()
    months = {tz: f"{now.astimezone(ZoneInfo(tz)):%Y-%m}" for tz in {t.timezone for t in teams.values()} | {"UTC"}}
    raises = await BudgetStore(deps.engine).all_raises()
    out: dict[tuple[str, int], _Subject] = {}
    for t in teams.values():
        budget = effective_budget(t.monthly_budget_micros, raised_in(raises, "team", t.id, months[t.timezone]))
        out[("team", t.id)] = _Subject("team", t.id, t.name, t.channel, ZoneInfo(t.timezone), budget,
                                       ladders.get(t.id, DEFAULT_THRESHOLDS))
    for p in await deps.org.budgeted_people():
        team = teams.get(p.team_id) if p.team_id else None
        tz = team.timezone if team else "UTC"
        budget = effective_budget(p.monthly_budget_micros, raised_in(raises, "person", p.id, months[tz]))
        out[("person", p.id)] = _Subject("person", p.id, p.name or p.email, p.slack_user_id, ZoneInfo(tz), budget,
                                         ladders.get(team.id, DEFAULT_THRESHOLDS) if team else DEFAULT_THRESHOLDS,
                                         p.team_id)
    return out


async def _budget_line(deps: Deps, s: _Subject, now: datetime) -> BudgetLine | None:
    if s.budget_micros is None:
        return None
    w = windows(now, s.tz.key)
    totals = await deps.ledger.window_totals(s.scope, s.id, (w.last7_hour, w.month_hour), w.now_hour)
    last7 = sum(v[0][0] for v in totals.values())
    month = sum(v[1][0] for v in totals.values())
    return BudgetLine("budget", s.budget_micros, month, project(month, last7, w.now_local, s.budget_micros))


async def _thresholds(deps: Deps, store: AlertStore, poster: SlackOutbox | None,
                      subjects: dict[tuple[str, int], _Subject], mutes: dict[tuple[str, int], Muting], result: ScanResult,
                      dry_run: bool) -> None:
    now = deps.clock.now()
    now_ts = int(now.timestamp())
    # A muted subject's lines are not recorded either: a line crossed while snoozed warns once the snooze ends.
    budgeted = [s for s in subjects.values() if s.budget_micros is not None
                and not mutes.get((s.scope, s.id), Muting()).lines_muted(now_ts)]
    by_start: dict[tuple[str, int], list[_Subject]] = defaultdict(list)
    for s in budgeted:  # one query per (scope, month start): teams in the same timezone share it
        by_start[(s.scope, int(month_start(now.astimezone(s.tz)).timestamp()) // 3600)].append(s)
    for (scope, from_hour), group in by_start.items():
        spent = await deps.insights.spend_since(scope, [s.id for s in group], from_hour)
        for s in group:
            period = f"{now.astimezone(s.tz):%Y-%m}"
            fired = await store.fired(s.scope, s.id, period)
            to_fire, to_rearm = threshold_actions(spent.get(s.id, 0), s.budget_micros or 0, s.ladder, fired)
            if to_rearm and not dry_run:
                await store.forget(s.scope, s.id, period, to_rearm)
                log.info("%s %s: budget lines %s re-armed", s.scope, s.id, to_rearm)
            if not to_fire or not s.target:
                continue
            new = to_fire if dry_run else await store.record(s.scope, s.id, period, to_fire, now_ts, s.budget_micros or 0)
            if not new:
                continue  # another process recorded (and sends) them
            line = await _budget_line(deps, s, now)
            assert line is not None
            text = threshold_message(s.name, s.scope, max(new), line, f"{now.astimezone(s.tz):%B}")
            if dry_run:
                result.messages.append((s.target, text))
                continue
            try:
                assert poster is not None
                key = f"line:{s.scope}:{s.id}:{period}:{max(new)}"
                await poster.post_message(s.target, text.splitlines()[0], warning_blocks(text, key))
                result.messages.append((s.target, text))
            except Exception as exc:  # noqa: BLE001 - un-record, so the next scan tries again
                await store.forget(s.scope, s.id, period, new)
                result.failed.append((s.target, f"{type(exc).__name__}: {exc}"))


def spike_config(deps: Deps) -> SpikeConfig:
    return SpikeConfig(step_seconds=3600, min_excess=deps.settings.spike_min_usd)


async def _spikes(deps: Deps, store: AlertStore, runs: RunLog, poster: SlackOutbox | None,
                  subjects: dict[tuple[str, int], _Subject], mutes: dict[tuple[str, int], Muting], result: ScanResult,
                  dry_run: bool) -> None:
    now = deps.clock.now()
    now_ts = int(now.timestamp())
    hour = now_ts // 3600
    cfg = spike_config(deps)
    min_micros = round(cfg.min_excess * MICROS_PER_USD)
    per_person, per_team = await deps.insights.recent_spend((hour - 1) * 3600)
    states = {"person": await store.spike_states("person"), "team": await store.spike_states("team")}
    candidates: set[tuple[str, int]] = set()
    for scope, spend in (("person", per_person), ("team", per_team)):
        candidates |= {(scope, sid) for sid, cost in spend.items() if cost >= min_micros}
        candidates |= {(scope, sid) for sid, st in states[scope].items() if st.get("in_episode")}
    extra_people = await deps.org.people_by_id([sid for scope, sid in candidates
                                                    if scope == "person" and (scope, sid) not in subjects])
    teams = {t.id: t for t in await deps.org.active_teams()} if extra_people else {}
    for sid, p in extra_people.items():  # people without a personal budget are watched for spikes too
        team = teams.get(p.team_id) if p.team_id else None
        subjects[("person", sid)] = _Subject("person", sid, p.name or p.email, p.slack_user_id,
                                             ZoneInfo(team.timezone if team else "UTC"), None, DEFAULT_THRESHOLDS,
                                             p.team_id)
    # Teams first: a person is judged against the rest of their team (a rise all share is the team's spike). A team
    # that is no candidate spent less than min_excess, so no rise of it could lift anyone.
    team_hours: dict[int, dict[int, tuple[float, float]]] = {}
    for key in sorted(candidates, key=lambda k: (k[0] != "team", k[1])):
        s = subjects.get(key)
        if s is None:
            continue
        team = team_hours.get(s.team_id, {}) if s.scope == "person" and s.team_id is not None else {}
        start, series = await _spike_one(deps, store, runs, poster, cfg, s, states[s.scope].get(s.id), hour, now,
                                         now_ts, result, dry_run, mutes.get(key, Muting()), team)
        if s.scope == "team":  # its spend and usual spend in the hours that may alert, by hour
            alertable = range(max(hour - ALERTABLE_HOURS, start) - start, hour - start + 1)
            team_hours[s.id] = {start + i: v for i, v in usual_steps(series, alertable, cfg).items()}


async def _spike_one(deps: Deps, store: AlertStore, runs: RunLog, poster: SlackOutbox | None, cfg: SpikeConfig,
                     s: _Subject, saved: dict | None, hour: int, now: datetime, now_ts: int, result: ScanResult,
                     dry_run: bool, mute: Muting, team: dict[int, tuple[float, float]]) -> tuple[int, list[float]]:
    """Judge one person's or team's hours since the last scan and send what alerts; return the series read (its
    first hour and hourly spend in USD). `team`: by hour, a person's team's spend and usual spend."""
    start = hour - HISTORY_HOURS
    rows = await (deps.ledger.team_hours if s.scope == "team" else deps.ledger.person_hours)(s.id, start, hour)
    # The series starts at the first hour with spend: before it this person or team had no history, and hours of $0
    # there would be the usual (a new hire's every busy hour a spike). The detector's warm-up and its first-weeks rules
    # then apply as they do to any young series (bench/spike_quality.py replays series from their first point too).
    start = max(start, min((r.hour for r in rows), default=start))
    team_steps = {h - start: v for h, v in team.items() if h >= start}
    series = [0.0] * (hour - start + 1)
    models: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        series[r.hour - start] += r.cost_micros / MICROS_PER_USD
        if r.hour >= hour - ALERTABLE_HOURS:
            models[r.hour][r.model] = models[r.hour].get(r.model, 0) + r.cost_micros
    state = dict(saved) if saved else {"v": 2, "last_index": hour - ALERTABLE_HOURS, "in_episode": False,
                                        "alert_value": 0.0, "normal_run": 0}
    if mute.expected_level_micros:  # someone marked a spike expected: up to that level is usual for a while
        cfg = with_floor(cfg, mute.expected_level_micros / MICROS_PER_USD)
    det = SpikeDetector.from_state(cfg, state | {"last_index": max(int(state["last_index"]) - start, -1)})
    # Complete hours since the last scan in order, then the running hour (kept only if it is already a spike, and
    # judged again as it fills up, so it escalates when it doubles within the hour).
    verdicts = [(start + v.index, v, v.index == hour - start)
                for v in scan_series(det, series, hour - start, (now_ts - hour * 3600) / 3600, team_steps)
                if start + v.index >= hour - ALERTABLE_HOURS]
    all_sent = True
    for h, v, partial in verdicts:
        # One key per message: the episode's first on an hour, then one per escalation (also within the same hour).
        key = f"spike:{s.scope}:{s.id}:{h}" + (f":{v.number}" if v.number > 1 else "")
        if not s.target or mute.spikes_muted(now_ts):
            continue  # snoozed: the episode is tracked (no storm when the snooze ends), nothing is sent
        text = spike_message(v, await _spike_context(deps, s, h, v, partial, models.get(h, {}), now))
        if dry_run:
            result.messages.append((s.target, text))
            continue
        if not await runs.claim(key, now_ts, SPIKE_LEASE_S):
            continue  # sent already (or being sent by another process)
        try:
            assert poster is not None
            await poster.post_message(s.target, text.splitlines()[0].replace("*", ""), warning_blocks(text, key))
        except Exception as exc:  # noqa: BLE001 - the state is not saved, so the next scan judges and sends again
            await runs.fail(key, now_ts, f"{type(exc).__name__}: {exc}")
            result.failed.append((s.target, f"{type(exc).__name__}: {exc}"))
            all_sent = False
        else:
            await runs.complete(key, now_ts, text.splitlines()[0])  # the headline: the admins' App Home lists it
            result.messages.append((s.target, text))
    if all_sent and not dry_run:
        st = det.state()
        await store.save_spike_state(s.scope, s.id, st | {"last_index": st["last_index"] + start}, now_ts)
    return start, series


async def _spike_context(deps: Deps, s: _Subject, h: int, v: SpikeVerdict, partial: bool, models: dict[str, int],
                         now: datetime) -> SpikeContext:
    top_model = max(models.items(), key=lambda kv: kv[1]) if models else None
    top_person = None
    if s.scope == "team":
        spenders = await deps.insights.team_spenders(s.id, h, h + 1)
        if spenders:
            top_person = (spenders[0].name, spenders[0].cost_micros)
    local_now = now.astimezone(s.tz)
    left_today = max(0.0, (day_start(local_now, -1).astimezone(UTC) - now).total_seconds() / 3600)
    excess = max(0.0, v.value - v.expected) * MICROS_PER_USD
    line = await _budget_line(deps, s, now)
    return SpikeContext(who=s.name, scope=s.scope, hour_start=datetime.fromtimestamp(h * 3600, s.tz), partial=partial,
                        top_model=top_model, top_person=top_person, budget=line,
                        extra_today_micros=round(excess * left_today))

