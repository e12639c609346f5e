"""Two real `tokenbot serve` processes on one database (SQLite file, or PostgreSQL with TOKENBOT_TEST_POSTGRES_URL):
ingestion adds up exactly, a budget request is decided once, and each team's digest is posted once.

Nothing is patched: the replicas are subprocesses (`python -m bot.cli serve`) on the real clock, talking to the
fake Slack Web API of this test's event loop through TOKENBOT_SLACK_API_URL. Every wait is a bounded polling loop;
nothing asserts on elapsed time."""
from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.slack.blocks.requests import APPROVE
from storage.db import make_engine
from storage.tables.core import team_usage_hourly, usage_events, usage_hourly
from storage.tables.requests import audit_log, budget_adjustments, budget_requests
from tests.conftest import INGEST_TOKEN, ORG_YAML, SIGNING_SECRET
from tests.support.fake_slack import FakeSlack
from tests.support.serve import ROOT, Replica, free_port, start_tokenbot, stop, tokenbot_env
from tests.support.slack_requests import SlackSender, block_action_body

DIGEST_EVENT = "tokenbot_digest"

# ORG_YAML's two teams, in UTC with a digest at 00:00 (always due today), plus four more teams with channels.
EXTRA_TEAMS = "".join(
    f"  - {{slug: extra{i}, name: Extra {i}, channel: C0EXTRA{i}, timezone: UTC, digest_time: \"00:00\", "
    f"monthly_budget_usd: 100}}\n" for i in range(4))
REPLICA_ORG = (ORG_YAML.replace("timezone: Europe/Berlin", 'timezone: UTC\n    digest_time: "00:00"')
               .replace("timezone: America/New_York", 'timezone: UTC\n    digest_time: "00:00"')
               .replace("people:\n", EXTRA_TEAMS + "people:\n"))
TEAM_CHANNELS = ["C0PLAT", "C0RES"] + [f"C0EXTRA{i}" for i in range(4)]


def _env(database_url: str, slack: FakeSlack, org_file: Path, port: int) -> dict[str, str]:
    return tokenbot_env(database_url, org_file, port, INGEST_TOKEN, SLACK_BOT_TOKEN="xoxb-test",
                        SLACK_SIGNING_SECRET=SIGNING_SECRET, TOKENBOT_SLACK_API_URL=slack.api_url,
                        TOKENBOT_SLACK_MIN_POST_INTERVAL_S="0")


async def _run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.fixture
async def replicas(tmp_path: Path, database_url: str, fake_slack: FakeSlack) -> AsyncIterator[tuple[Replica, Replica]]:
    org_file = tmp_path / "org.yml"
    org_file.write_text(REPLICA_ORG)
    # The template database is migrated already; `db upgrade` must find it current (and would migrate it otherwise).
    rc, out = await _run_cli(_env(database_url, fake_slack, org_file, 0), "db", "upgrade")
    assert rc == 0, out
    started: list[Replica] = []
    try:
        # One after the other: two `serve` processes syncing the org file at the same moment race (on PostgreSQL one
        # dies at start-up with a UniqueViolation on teams.slug: a known bug, reported with issue 6), which is not
        # what this test is about. Each replica still syncs the org file at its start-up.
        for name in ("A", "B"):
            started.append(await start_tokenbot(name, tmp_path, _env(database_url, fake_slack, org_file, free_port())))
        yield started[0], started[1]
    finally:
        await asyncio.gather(*(stop(r) for r in started))


def _events(start: int, n: int, now: int) -> list[dict]:
    # Users nobody in the org claims: no team, so no budget warnings; several hours and models per batch, in an
    # order that differs between batches (so concurrent transactions touch the same rollup rows in other orders).
    models = ["gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini"]
    out = []
    for i in range(start, start + n):
        out.append({"id": f"rep-{i}", "timestamp": now - 60 - (i * 7919 % 5) * 3600, "user": f"ghost-{i % 5}",
                    "model": models[(i * 31 + start) % 3], "input_tokens": 100 + i % 7, "output_tokens": 10,
                    "cost_usd": (i % 97 + 1) / 1000})
    return out


async def _post(http: aiohttp.ClientSession, url: str, batch: list[dict]) -> dict:
    async with http.post(f"{url}/v1/usage", json=batch, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        text = await resp.text()
        assert resp.status == 200, (url, resp.status, text)
        return json.loads(text)


async def _scalar(engine, stmt) -> int:  # noqa: ANN001
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one() or 0)


async def test_two_replicas_ingest_decide_and_post_once(replicas: tuple[Replica, Replica], database_url: str,
                                                        fake_slack: FakeSlack) -> None:
    a, b = replicas
    engine = make_engine(database_url)
    try:
        async with aiohttp.ClientSession() as http:
            await _ingestion_adds_up(http, a, b, engine)
            await _approval_is_decided_once(http, a, b, engine, fake_slack)
        await _digests_posted_once(fake_slack, a, b)
    finally:
        await engine.dispose()


async def _ingestion_adds_up(http: aiohttp.ClientSession, a: Replica, b: Replica, engine) -> None:  # noqa: ANN001
    now = int(time.time())
    size, batches = 200, 30
    sent: dict[str, dict] = {}
    accepted = duplicates = 0
    gate = asyncio.Semaphore(6)

    async def send(k: int) -> tuple[int, int]:
        batch = _events(k * size, size, now)
        for e in batch:
            sent[e["id"]] = e
        async with gate:
            if k % 3 == 0:  # the same batch to both replicas at once
                answers = await asyncio.gather(_post(http, a.url, batch), _post(http, b.url, batch))
            else:  # alternately to A and B
                answers = [await _post(http, (a if k % 2 else b).url, batch)]
        return sum(x["accepted"] for x in answers), sum(x["duplicates"] for x in answers)

    for acc, dup in await asyncio.gather(*(send(k) for k in range(batches))):
        accepted += acc
        duplicates += dup
    # Replay a few already-stored batches to the other replica: nothing changes.
    for k in (1, 2):
        replay = await _post(http, (b if k % 2 else a).url, _events(k * size, size, now))
        assert replay == {"accepted": 0, "duplicates": size, "rejected_count": 0, "rejected": []}

    doubled = len(range(0, batches, 3)) * size
    expected_micros = sum(round(e["cost_usd"] * 1_000_000) for e in sent.values())
    assert len(sent) == batches * size
    assert accepted == len(sent) and duplicates == doubled  # each doubled batch: stored once, reported once as dupes
    assert await _scalar(engine, select(func.count()).select_from(usage_events).where(
        usage_events.c.id.like("rep-%"))) == len(sent)
    assert await _scalar(engine, select(func.sum(usage_events.c.cost_micros)).where(
        usage_events.c.id.like("rep-%"))) == expected_micros
    # The rollups (what every query reads) agree with the raw events, so no batch was counted twice in them.
    assert await _scalar(engine, select(func.sum(usage_hourly.c.cost_micros))) == expected_micros
    assert await _scalar(engine, select(func.sum(usage_hourly.c.requests))) == len(sent)
    assert await _scalar(engine, select(func.sum(team_usage_hourly.c.cost_micros))) == expected_micros


async def _approval_is_decided_once(http: aiohttp.ClientSession, a: Replica, b: Replica, engine,  # noqa: ANN001
                                    slack: FakeSlack) -> None:
    sender_a = SlackSender(http, f"{a.url}/slack/events", SIGNING_SECRET)
    sender_b = SlackSender(http, f"{b.url}/slack/events", SIGNING_SECRET)
    answer = await sender_a.command("request 50 x", "U0ADA", slack.response_url("cmd"))
    text = "\n".join(blk["text"]["text"] for blk in answer.get("blocks", []) if isinstance(blk.get("text"), dict))
    match = re.search(r"Request #(\d+) for \$50\.00 sent to <@U0BOSS>", text or answer.get("text", ""))
    assert match, answer
    request_id = int(match.group(1))

    clicks = 5
    bodies = [(s, block_action_body(APPROVE, str(request_id), "U0BOSS", slack.response_url(f"click-{s is sender_a}-{i}")))
              for i in range(clicks) for s in (sender_a, sender_b)]
    statuses = await asyncio.gather(*(s.post(body) for s, body in bodies))
    assert all(r.status == 200 for r in statuses)

    def click_answers() -> list[str]:
        return [r.get("text", "") for r in slack.responses if "request #" in r.get("text", "").lower()
                or "Request #" in r.get("text", "")]

    for _ in range(300):  # bounded: ~30 s for every click's ephemeral answer
        if len(click_answers()) >= 2 * clicks:
            break
        await asyncio.sleep(0.1)
    answers = click_answers()
    assert len(answers) == 2 * clicks, (answers, a.log_tail(), b.log_tail())
    assert sum(t == f"Approved request #{request_id}." for t in answers) == 1, answers
    assert all("already approved by <@U0BOSS>" in t for t in answers if t != f"Approved request #{request_id}."), answers

    rq = budget_requests.c
    assert await _scalar(engine, select(func.count()).select_from(budget_requests).where(
        rq.id == request_id, rq.status == "approved", rq.decided_by == "U0BOSS")) == 1
    assert await _scalar(engine, select(func.count()).select_from(budget_adjustments).where(
        budget_adjustments.c.request_id == request_id)) == 1
    assert await _scalar(engine, select(func.count()).select_from(budget_adjustments)) == 1
    assert await _scalar(engine, select(func.count()).select_from(audit_log).where(
        audit_log.c.request_id == request_id, audit_log.c.action == "approved")) == 1
    # The requester is told once.
    for _ in range(100):
        if any(c.params.get("channel") == "U0ADA" for c in slack.posted):
            break
        await asyncio.sleep(0.1)
    told = [c for c in slack.posted if c.params.get("channel") == "U0ADA" and "approved your budget request" in
            str(c.params.get("text"))]
    assert len(told) == 1, told


def _digest_posts(slack: FakeSlack) -> list[tuple[str, str]]:
    """(channel, RunLog key) of every digest Slack accepted."""
    out = []
    for call in slack.posted:
        meta = call.params.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        if isinstance(meta, dict) and meta.get("event_type") == DIGEST_EVENT:
            out.append((str(call.params.get("channel")), str(meta["event_payload"]["key"])))
    return out


async def _digests_posted_once(slack: FakeSlack, a: Replica, b: Replica) -> None:
    # Both replicas run the scheduler (digests every minute, the first run at start-up).
    for _ in range(400):  # bounded: ~40 s until every team channel has its digest
        if {ch for ch, _ in _digest_posts(slack)} >= set(TEAM_CHANNELS):
            break
        await asyncio.sleep(0.1)
    posted = {ch for ch, _ in _digest_posts(slack)}
    assert posted >= set(TEAM_CHANNELS), (sorted(posted), a.log_tail(), b.log_tail())
    await asyncio.sleep(3)  # a doubled post would come right behind the first; give it the chance to show
    assert a.proc.poll() is None and b.proc.poll() is None, (a.log_tail(), b.log_tail())
    per_channel = Counter(ch for ch, _ in _digest_posts(slack))
    per_key = Counter(key for _, key in _digest_posts(slack))
    assert all(n == 1 for n in per_key.values()), per_key  # each (team, day) once, whatever the clock did
    keys_per_channel = Counter(ch for ch, _ in set(_digest_posts(slack)))
    # One post per team channel (two only if the run straddled UTC midnight: then they are two different days).
    for channel in TEAM_CHANNELS:
        assert per_channel[channel] == keys_per_channel[channel] == 1 or (
            per_channel[channel] == keys_per_channel[channel] == 2), (channel, per_channel, per_key)
    all_posts = Counter(str(c.params.get("channel")) for c in slack.posted)
    assert {ch: all_posts[ch] for ch in TEAM_CHANNELS} == dict(per_channel), all_posts
