"""Daily team digests: which are due, building one, posting it exactly once (the RunLog key is team + local day)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


from bot.slack.chart import daily_chart_png
from bot.features.deps import Deps
from bot.domain.budget import effective_budget
from bot.domain.impact import impact_of, window_hours
from storage.stores.impact import ImpactStore
from bot.domain.digest_figures import (DigestFigures, SpenderLine, compute_figures, data_from_hour, digest_moment, hour_of)
from bot.slack.blocks.digest import digest_message
from bot.domain.steering import steering_line
from bot.features.steering import month_figures
from bot.slack.outbox import SlackOutbox, SlackSendError
from bot.domain.org import Team
from storage.stores.budgets import BudgetStore
from storage.stores.runs import RunLog

log = logging.getLogger(__name__)

DIGEST_LEASE_S = 600  # longer than one digest can take; a process that died releases its digest after this


def digest_key(team: Team, day: date) -> str:
    return f"digest:{team.id}:{day.isoformat()}"


def due_day(team: Team, now: datetime) -> date | None:
    """The team's local date if its digest time has passed today (catch-up included), else None."""
    tz = ZoneInfo(team.timezone)
    today = now.astimezone(tz).date()
    return today if now >= digest_moment(today, team.digest_time, tz) else None


async def build_figures(deps: Deps, team: Team, day: date) -> DigestFigures:
    tz = ZoneInfo(team.timezone)
    now = deps.clock.now()
    # The digest reads as of its scheduled moment, so a late (caught-up) run shows the same figures.
    as_of = min(digest_moment(day, team.digest_time, tz), now.astimezone(tz))
    rows = await deps.ledger.team_hours(team.id, data_from_hour(day, tz), hour_of(as_of) - 1)
    y_start = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=tz)
    y_end = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    spend = await deps.insights.team_spenders(team.id, hour_of(y_start), hour_of(y_end))
    impacts = ImpactStore(deps.engine)
    as_of_hour = hour_of(as_of) - 1  # the last whole hour before the digest moment
    spenders = None
    if team.digest_names_top_spenders:
        # Beside yesterday's spend: what each of them shipped in the last 7 days (with that week's spend).
        week = await impacts.members(team.id, [s.person_id for s in spend], *window_hours(as_of_hour, 7), 7)
        spenders = [SpenderLine(s.name, s.slack_user_id, s.cost_micros, s.tokens,
                                week.get(s.person_id, impact_of(7, 0, {}))) for s in spend]
    budget = effective_budget(team.monthly_budget_micros,
                              await BudgetStore(deps.engine).raised("team", team.id, f"{as_of:%Y-%m}"))
    steering = await month_figures(deps, "team", team.id, team.timezone)
    figures = compute_figures(team_name=team.name, digest_date=day, as_of=as_of,
                           rows=[(r.hour, r.model, r.requests, r.input_tokens, r.output_tokens, r.cached_input_tokens,
                                  r.cost_micros, r.unpriced_requests) for r in rows],
                           budget_micros=budget, spenders=spenders, active_people=len(spend),
                           pending_requests=await deps.requests.count_pending_for_team(team.id))
    return replace(figures, impact=await impacts.impacts("team", team.id, as_of_hour),
                   steering=steering_line(steering) if steering is not None else None)


DIGEST_EVENT = "tokenbot_digest"  # message metadata: lets a restarted run see that its digest did go out


async def post_digest(poster: SlackOutbox, channel: str, f: DigestFigures, with_chart: bool = True,
                      key: str | None = None) -> str:
    """Upload the chart, then post the message showing it; without the chart (upload failed, or Slack refused the
    image block) the message carries a text sparkline instead. Returns the message ts."""
    file_id = None
    if with_chart:
        try:
            png = await asyncio.to_thread(daily_chart_png, f)
            file_id = await poster.upload_png(png, f"digest-{f.digest_date}.png", f"{f.team_name} daily spend",
                                              "Daily spend of the last 30 days against the budget pace")
        except (SlackSendError, OSError, ValueError) as exc:  # the chart is a nicety: the text chart stands in
            log.warning("digest chart upload for %s failed (%s); posting the text chart", f.team_name, exc)
    message = digest_message(f, file_id)
    extra = {"metadata": {"event_type": DIGEST_EVENT, "event_payload": {"key": key}}} if key else {}
    try:
        posted = await poster.post_message(channel, message["text"], message["blocks"], **extra)
    except SlackSendError as exc:
        if file_id is None or exc.code not in ("invalid_blocks", "invalid_blocks_format"):
            raise
        log.warning("Slack refused the digest's image block for %s; posting the text chart", f.team_name)
        message = digest_message(f, None)
        posted = await poster.post_message(channel, message["text"], message["blocks"], **extra)
    return posted.ts


async def _already_posted(poster: SlackOutbox, channel: str, key: str, claimed_at: int) -> str | None:
    try:
        return await poster.find_posted(channel, DIGEST_EVENT, key, claimed_at - 600)
    except SlackSendError as exc:
        log.warning("cannot read %s to check for %s (%s); posting it", channel, key, exc)
        return None


@dataclass
class DigestRun:
    posted: list[str] = field(default_factory=list)  # keys
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, error)
    skipped: int = 0  # already done, or held by another process


async def run_digest(deps: Deps, team: Team, day: date, poster: SlackOutbox, runs: RunLog,
                     result: DigestRun | None = None) -> DigestRun:
    """Claim (team, day), then build and post. A failure marks the claim failed, and the next run retries it."""
    result = result or DigestRun()
    key = digest_key(team, day)
    now_ts = int(deps.clock.now().timestamp())
    if not team.channel:
        result.skipped += 1
        return result
    prior = await runs.get(key)
    if not await runs.claim(key, now_ts, DIGEST_LEASE_S):
        result.skipped += 1
        return result
    try:
        if prior is not None and prior.status == "running":
            # Taken over from a process that died mid-run: it may have posted just before dying.
            ts = await _already_posted(poster, team.channel, key, prior.claimed_at)
            if ts is not None:
                await runs.complete(key, int(deps.clock.now().timestamp()), f"channel={team.channel} ts={ts} (found)")
                result.skipped += 1
                return result
        figures = await build_figures(deps, team, day)
        ts = await post_digest(poster, team.channel, figures, key=key)
    except Exception as exc:  # noqa: BLE001 - any failure of one team's digest is retried, and must not stop others
        error = f"{type(exc).__name__}: {exc}"
        log.warning("digest %s failed, will retry: %s", key, error)
        await runs.fail(key, int(deps.clock.now().timestamp()), error)
        result.failed.append((key, error))
    else:
        await runs.complete(key, int(deps.clock.now().timestamp()), f"channel={team.channel} ts={ts}")
        result.posted.append(key)
    return result


async def run_due_digests(deps: Deps, poster: SlackOutbox | None = None, runs: RunLog | None = None) -> DigestRun:
    """Post every digest whose local time has passed today and is not done yet. Run every minute: a missed or failed
    digest is caught up by the next run, and the RunLog makes it once per team and local day across processes."""
    result = DigestRun()
    poster = poster or deps.slack
    if poster is None:
        return result
    runs = runs or RunLog(deps.engine)
    now = deps.clock.now()
    due: dict[str, tuple[Team, date]] = {}
    for team in await deps.org.active_teams():
        day = due_day(team, now)
        if day is not None and team.channel:
            due[digest_key(team, day)] = (team, day)
    done = await runs.done_keys(due)
    result.skipped += len(done)
    todo = [v for k, v in due.items() if k not in done]
    gate = asyncio.Semaphore(deps.settings.digest_concurrency)

    async def one(team: Team, day: date) -> None:
        async with gate:
            await run_digest(deps, team, day, poster, runs, result)

    await asyncio.gather(*(one(t, d) for t, d in todo))
    if result.posted or result.failed:
        log.info("digests: %d posted, %d failed, %d skipped", len(result.posted), len(result.failed), result.skipped)
    return result
