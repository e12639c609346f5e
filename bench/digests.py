"""Benchmark: build and post 1,000 teams' daily digests to the fake Slack (spacing off, no rate-limit waits).

Run: python bench/digests.py [--teams N]

Seeds a fresh SQLite file with N teams (own channel, UTC, digest 09:00, budget, 5 people each) and 38 days of usage
rollups (every 4th hour, 2 models per team), then, at 10:00 UTC, times:
  1. run_due_digests: RunLog claim, figures from the database, chart PNG, upload (3 Slack calls), post, complete;
  2. the same work without Slack (figures + message + chart PNG), and the figures + message alone.
The fake Slack Web API runs in the same process (it shares the CPU with the bot).
"""
from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_deps  # noqa: E402
from bot.slack.chart import daily_chart_png  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.features.digests import build_figures, run_due_digests  # noqa: E402
from bot.slack.blocks.digest import digest_message  # noqa: E402
from bot.domain.org import parse_org  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.slack.outbox import SlackOutbox  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def org_yaml(n: int) -> str:
    lines = ["org: {name: Bench}", "teams:"]
    for i in range(n):
        lines.append(f"  - {{slug: t{i:04d}, name: Team {i}, channel: C0T{i:04d}, timezone: UTC, monthly_budget_usd: 5000,"
                     f" digest_names_top_spenders: {'true' if i % 2 else 'false'}}}")
    lines.append("people:")
    for i in range(n):
        for j in range(5):
            lines.append(f"  - {{email: p{i}x{j}@bench.example, name: Person {i}.{j}, team: t{i:04d}}}")
    return "\n".join(lines)


def seed_usage(db: Path, n: int) -> int:
    con = sqlite3.connect(db)
    team_ids = dict(con.execute("SELECT slug, id FROM teams"))
    members: dict[int, list[int]] = {}
    for pid, tid in con.execute("SELECT id, team_id FROM people"):
        members.setdefault(tid, []).append(pid)
    start = int((NOW - timedelta(days=38)).timestamp()) // 3600
    end = int(NOW.timestamp()) // 3600
    team_rows, person_rows = [], []
    for i in range(n):
        tid = team_ids[f"t{i:04d}"]
        for h in range(start, end, 4):
            for k, model in enumerate(("gpt-4o", "claude-sonnet-4-5")):
                cost = 1_000_000 + ((h * 7 + i * 13 + k) % 50) * 100_000
                team_rows.append((tid, h, model, 10, 20000, 2000, 0, cost, 0))
                pid = members[tid][(h + k) % 5]
                person_rows.append((pid, h, tid, model, 10, 20000, 2000, 0, cost, 0))
    cols = "requests, input_tokens, output_tokens, cached_input_tokens, cost_micros, unpriced_requests"
    con.executemany(f"INSERT INTO team_usage_hourly (team_id, hour, model, {cols}) VALUES (?,?,?,?,?,?,?,?,?)", team_rows)
    con.executemany(f"INSERT INTO usage_hourly (person_id, hour, team_id, model, {cols}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    person_rows)
    con.commit()
    con.close()
    return len(team_rows) + len(person_rows)


async def main(n: int) -> None:
    slack = FakeSlack()
    await slack.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "digests.db"
        settings = load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{db}", SLACK_BOT_TOKEN="xoxb-bench",
                                 TOKENBOT_SLACK_API_URL=slack.api_url, TOKENBOT_SLACK_MIN_POST_INTERVAL_S=0)
        deps = await build_deps(settings, ManualClock(NOW))
        await deps.org.sync(parse_org(org_yaml(n)), int(NOW.timestamp()))
        rows = seed_usage(db, n)
        poster = SlackOutbox.from_settings(settings, min_interval_s=0)

        t0 = time.perf_counter()
        result = await run_due_digests(deps, poster)
        posted_s = time.perf_counter() - t0
        assert len(result.posted) == n and not result.failed, (len(result.posted), result.failed[:3])
        assert len(slack.posted) == n and len(slack.uploads) == n

        teams = await deps.org.active_teams()
        day = NOW.date()
        t0 = time.perf_counter()
        figures = [await build_figures(deps, t, day) for t in teams]
        for f in figures:
            digest_message(f, "F1")
        figures_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in figures:
            daily_chart_png(f)
        chart_s = time.perf_counter() - t0
        await deps.engine.dispose()
    await slack.stop()
    print(f"{n:,} teams' digests built and posted to the fake Slack (upload + post, spacing off, concurrency "
          f"{settings.digest_concurrency}): {posted_s:.2f} s = {posted_s / n * 1000:.1f} ms/team  ({rows:,} rollup rows)")
    print(f"  without Slack, one core: figures + message {figures_s:.2f} s ({figures_s / n * 1000:.1f} ms/team), "
          f"chart PNG {chart_s:.2f} s ({chart_s / n * 1000:.1f} ms/team)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=1000)
    asyncio.run(main(parser.parse_args().teams))
