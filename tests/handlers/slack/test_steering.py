"""Steering to preferred models as people see it: the share line in `/tokens me` and `/tokens team` (signed slash
commands into the running bot), priced with the real Pricer, and the friendly monthly DM sent once."""
from __future__ import annotations

from datetime import timedelta

from bot.domain.format import usd
from bot.domain.org import OrgFileError, parse_org
from bot.domain.pricing import Pricer
from bot.features.steering import run_nudges
from tests.conftest import NOW, ORG_YAML
from tests.support.blocks import block_texts
from tests.support.digests import message_text, poster

STEERED = ORG_YAML.replace("    approvers: [U0BOSS]\n", "    approvers: [U0BOSS]\n    steering: {other_share_pct: 40}\n", 1) + """
preferred_models:
  - {model: gpt-4o-mini, for: everyday coding and chat, replaces: [gpt-4o]}
  - {model: claude-haiku-4-5, for: agents}
"""


async def _usage(bot) -> int:  # noqa: ANN001
    """Ada: $30 on gpt-4o (10 requests of 100k in, 1k out) and $10 on the preferred gpt-4o-mini. Returns what the
    gpt-4o requests cost on gpt-4o-mini, by the same Pricer."""
    await bot.deps.org.sync(parse_org(STEERED), int(NOW.timestamp()))
    at = int((NOW - timedelta(hours=2)).timestamp())
    events = [{"id": f"g{i}", "timestamp": at, "user": "ada", "model": "gpt-4o", "input_tokens": 100_000,
               "output_tokens": 1_000, "cost_usd": 3.0} for i in range(10)]
    events += [{"id": "m1", "timestamp": at, "user": "ada", "model": "gpt-4o-mini", "input_tokens": 10,
                "output_tokens": 10, "cost_usd": 10.0}]
    status, body = await bot.ingest(events)
    assert status == 200, body
    per = Pricer().cost_micros("gpt-4o-mini", None, 100_000, 1_000, 0, at)
    assert per is not None
    return per * 10


async def test_tokens_me_and_team_show_the_share_on_preferred_models_and_the_rest_priced_on_them(bot) -> None:  # noqa: ANN001
    on_mini = await _usage(bot)
    line = (f"*Preferred models*: 25% of spend ($10.00 of $40.00). The other $30.00 would have cost {usd(on_mini)} on "
            "the preferred models (most of it `gpt-4o` → `gpt-4o-mini`).")
    me = await bot.sender.command("me", "U0ADA", bot.slack.response_url("me"))
    assert line in block_texts(me["blocks"])
    assert me["blocks"][-1]["type"] == "actions"  # still ends with the budget-request button
    team = await bot.sender.command("team platform", "U0BOSS", bot.slack.response_url("team"))
    assert line in block_texts(team["blocks"])


async def test_one_friendly_dm_a_month_over_the_teams_line(bot) -> None:  # noqa: ANN001
    on_mini = await _usage(bot)
    assert await run_nudges(bot.deps, poster(bot)) == 1
    assert await run_nudges(bot.deps, poster(bot)) == 0  # once a month, however often the job runs
    [dm] = [c for c in bot.slack.posted if c.params["channel"] == "U0ADA"]
    text = message_text(dm)
    assert ("A friendly note about November: 75% of your AI spend ($30.00 of $40.00) went to models other than the "
            "ones your organisation prefers (your team's line is 40%).") in text
    assert f"• `gpt-4o` $30.00 → `gpt-4o-mini` {usd(on_mini)}" in text
    assert "• `gpt-4o-mini` is preferred for everyday coding and chat" in text
    assert not [c for c in bot.slack.posted if c.params["channel"] in ("U0ALAN", "U0BOSS")]


def test_org_file_errors_name_the_line() -> None:
    bad = STEERED.replace("steering: {other_share_pct: 40}", "steering: {other_share_pct: 40, route: {gpt-4o: acme}}")
    bad = bad.replace("  - {model: claude-haiku-4-5, for: agents}", "  - {model: claude-haiku-4-5, replaces: [gpt-4o]}")
    try:
        parse_org(bad)
    except OrgFileError as e:
        problems = e.problems
    else:
        raise AssertionError("accepted")
    lines = bad.splitlines()
    route_line = next(i for i, t in enumerate(lines, 1) if "route:" in t)
    team_line = next(i for i, t in enumerate(lines, 1) if "slug: platform" in t)
    dup_line = next(i for i, t in enumerate(lines, 1) if "claude-haiku-4-5, replaces" in t)
    assert f"org file:{team_line}: team `platform`: steering.route sends gpt-4o to acme, which is not one of the " \
           "preferred_models" in problems
    assert any(p.startswith(f"org file:{dup_line}: preferred model claude-haiku-4-5: gpt-4o is already replaced")
               for p in problems), problems
    assert route_line


async def test_the_digest_and_app_home_show_the_share_too(bot) -> None:  # noqa: ANN001
    from bot.features.digests import run_digest
    from bot.features.home import publish_home
    from storage.stores.runs import RunLog

    on_mini = await _usage(bot)
    line = f"25% of spend ($10.00 of $40.00). The other $30.00 would have cost {usd(on_mini)} on the preferred models"
    team = await bot.deps.org.team_by_slug("platform")
    await run_digest(bot.deps, team, NOW.date(), poster(bot), RunLog(bot.deps.engine))
    [digest] = [c for c in bot.slack.posted if c.params["channel"] == "C0PLAT"]
    assert line in message_text(digest)
    await publish_home(bot.deps, "U0ADA")
    [home] = bot.slack.calls_to("views.publish")
    assert line in str(home.params["view"])


async def test_a_team_that_opted_in_gets_its_requests_routed_announced_once_and_audited(bot) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from bot.features.steering import announce_routes
    from storage.tables.requests import audit_log
    from tests.conftest import INGEST_TOKEN

    routed = STEERED.replace("steering: {other_share_pct: 40}",
                             "steering: {other_share_pct: 40, route: {gpt-4o: gpt-4o-mini}}")
    await bot.deps.org.sync(parse_org(routed), int(NOW.timestamp()))

    async def reserve(user: str, model: str, call: str) -> dict:
        body = {"call_id": call, "model": model, "requested_model": model, "provider": "openai", "input_tokens": 100,
                "max_tokens": 100, "end_user": user, "metadata": {"user_api_key_user_id": "default_user_id"}}
        async with bot.http.post(f"{bot.url}/v1/budget/reserve", json=body,
                                 headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
            assert resp.status == 200
            return await resp.json()

    assert (await reserve("ada", "gpt-4o", "c1"))["route_to"] == "gpt-4o-mini"  # Platform opted in
    assert "route_to" not in await reserve("ada", "claude-sonnet-4-5", "c2")  # not a routed model
    assert "route_to" not in await reserve("grace", "gpt-4o", "c3")  # Research did not opt in

    assert await announce_routes(bot.deps, poster(bot)) == 1
    assert await announce_routes(bot.deps, poster(bot)) == 0
    [note] = [c for c in bot.slack.posted if c.params["channel"] == "C0PLAT"]
    assert ("*Platform* opted in to steering: requests through the company gateway for `gpt-4o` → `gpt-4o-mini` are "
            "now sent to the preferred model instead") in message_text(note)
    async with bot.deps.engine.connect() as conn:
        [row] = (await conn.execute(select(audit_log).where(audit_log.c.action == "steering_route"))).mappings().all()
    assert row["detail"]["team"] == "platform" and row["detail"]["route"] == [["gpt-4o", "gpt-4o-mini"]]
