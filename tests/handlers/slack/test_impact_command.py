"""Cost per outcome as people see it: `/tokens impact` (signed slash commands into the running bot, same roles and
privacy as `/tokens top`), `/tokens me`, `/tokens team`, App Home and the team digest, from usage and signed GitHub
deliveries sent over HTTP."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.org import parse_org
from bot.features.digests import run_due_digests
from tests.conftest import NOW
from tests.handlers.slack.test_app_home import open_home
from tests.support import github_payloads as gh
from tests.support.blocks import block_texts
from tests.support.digests import message_text, poster
from tests.support.github_bot import GH_ORG_YAML, deliver, gh_bot  # noqa: F401 - the fixture

ORG = GH_ORG_YAML.replace("gateway_ids: [alan]}", "gateway_ids: [alan], github: alan-gh}")
OPEN_ORG = ORG.replace("    approvers: [U0BOSS]", "    approvers: [U0BOSS]\n    digest_names_top_spenders: true")


def shown(answer: dict) -> str:
    return block_texts(answer.get("blocks", []))


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scenario(bot, org: str = ORG) -> None:  # noqa: ANN001
    """Ada: $60 in the last 7 days and $32 twenty days ago; 3 merged PRs this week (one later reverted by Alan), one
    twenty days ago, one deploy. Alan: $12 this week and the revert."""
    await bot.deps.org.sync(parse_org(org), int(NOW.timestamp()))
    hour_ago, old = int(NOW.timestamp()) - 3600, int((NOW - timedelta(days=20)).timestamp())
    status, _ = await bot.ingest([
        {"id": "u1", "timestamp": hour_ago, "user": "ada", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1,
         "cost_usd": 60.0},
        {"id": "u2", "timestamp": old, "user": "ada", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1,
         "cost_usd": 32.0},
        {"id": "u3", "timestamp": hour_ago, "user": "alan", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1,
         "cost_usd": 12.0}])
    assert status == 200
    for number, days_ago in ((1, 1), (2, 2), (3, 3), (4, 20)):
        status, body = await deliver(bot, "pull_request", gh.pull_request_closed(
            number, "Ada-GH", title=f"Change {number}", merged_at=iso(NOW - timedelta(days=days_ago))))
        assert (status, body["accepted"]) == (200, 1)
    status, body = await deliver(bot, "pull_request", gh.pull_request_closed(
        9, "alan-gh", title='Revert "Change 2"', body="Reverts acme/api#2", merged_at=iso(NOW - timedelta(hours=5))))
    assert body["reverted"] == 1
    status, body = await deliver(bot, "deployment_status", gh.deployment_status(
        1, "ada-gh", created_at=iso(NOW - timedelta(hours=2))))
    assert body["accepted"] == 1


async def test_impact_for_members_approvers_and_admins(gh_bot) -> None:  # noqa: F811
    await scenario(gh_bot)
    # A member of a team that does not share per-person figures: the team's figures only.
    member = shown(await gh_bot.sender.command("impact", "U0ALAN", gh_bot.slack.response_url()))
    # Team, 7 days: $72 for 3 merged PRs ($24 each), one reverted (33%); one deploy. 30 days: $104, 4 PRs, $26 each.
    assert ("*Last 7 days*: $72.00 · 3 merged PRs, $24.00 each, 33% reverted (1) · 1 deploy, $72.00 each · 1 revert"
            in member)
    assert ("*Last 30 days*: $104.00 · 4 merged PRs, $26.00 each, 25% reverted (1) · 1 deploy, $104.00 each · "
            "1 revert") in member
    assert "2 people spent or shipped in the last 30 days; this team does not share per-person figures" in member
    assert "<@U0ADA>" not in member
    # Its approver sees each person, spend beside what it bought, in name order (never a ranking by spend).
    boss = shown(await gh_bot.sender.command("impact platform", "U0BOSS", gh_bot.slack.response_url()))
    assert ("• <@U0ADA>: $92.00 · 4 merged PRs, $23.00 each, 25% reverted (1) · 1 deploy, $92.00 each\n"
            "• <@U0ALAN>: $12.00 · 1 revert") in boss
    # Another team: refused to a non-member, shown to an admin.
    refused = shown(await gh_bot.sender.command("impact research", "U0ADA", gh_bot.slack.response_url()))
    assert refused == "Only members, approvers of `research` and FinOps admins can see its spend."
    admin = shown(await gh_bot.sender.command("impact research", "U0ADMIN", gh_bot.slack.response_url()))
    assert "*Last 7 days*: $0.00 · no recorded outcomes" in admin
    assert "Nobody spent or shipped in the last 30 days." in admin
    bad = shown(await gh_bot.sender.command("impact <!channel>", "U0ADA", gh_bot.slack.response_url()))
    assert "&lt;!channel&gt;" in bad and "<!channel>" not in bad
    # Where the team shares names, its members see the people too.
    await gh_bot.deps.org.sync(parse_org(OPEN_ORG), int(NOW.timestamp()))
    member = shown(await gh_bot.sender.command("impact", "U0ALAN", gh_bot.slack.response_url()))
    assert "• <@U0ALAN>: $12.00 · 1 revert" in member


async def test_me_team_and_app_home_show_cost_per_outcome(gh_bot) -> None:  # noqa: F811
    await scenario(gh_bot)
    me = shown(await gh_bot.sender.command("me", "U0ADA", gh_bot.slack.response_url()))
    assert "*What your spend bought*" in me
    assert "*Last 7 days*: $60.00 · 3 merged PRs, $20.00 each, 33% reverted (1) · 1 deploy, $60.00 each" in me
    assert "*Last 30 days*: $92.00 · 4 merged PRs, $23.00 each, 25% reverted (1) · 1 deploy, $92.00 each" in me
    assert "*Platform, last 30 days*: $104.00 · 4 merged PRs, $26.00 each, 25% reverted (1)" in me
    alan = shown(await gh_bot.sender.command("me", "U0ALAN", gh_bot.slack.response_url()))
    assert "*Last 7 days*: $12.00 · 1 revert" in alan
    # The team view: the team's cost per outcome, and each spender's outcomes this month beside their spend (the PR
    # of 20 days ago was last month).
    team = shown(await gh_bot.sender.command("team platform", "U0BOSS", gh_bot.slack.response_url()))
    assert "*Last 7 days*: $72.00 · 3 merged PRs, $24.00 each, 33% reverted (1)" in team
    assert "1. <@U0ADA>: $60.00 · 3 merged PRs (1 reverted) · 1 deploy\n2. <@U0ALAN>: $12.00 · 1 revert" in team
    top = shown(await gh_bot.sender.command("top platform", "U0BOSS", gh_bot.slack.response_url()))
    assert "1. <@U0ADA>: $60.00 · 3 merged PRs (1 reverted) · 1 deploy" in top
    home = block_texts((await open_home(gh_bot, "U0ADA"))["blocks"])
    assert "*Last 30 days*: $92.00 · 4 merged PRs, $23.00 each, 25% reverted (1) · 1 deploy, $92.00 each" in home


async def test_digest_shows_cost_per_outcome_and_spenders_outcomes(gh_bot) -> None:  # noqa: F811
    await scenario(gh_bot, OPEN_ORG)
    # Platform's digest at 09:00 Berlin on Nov 19 reports Nov 18; its windows end at the digest moment.
    gh_bot.clock.set(datetime(2026, 11, 19, 8, 0, tzinfo=UTC))
    await run_due_digests(gh_bot.deps, poster(gh_bot))
    [call] = [c for c in gh_bot.slack.posted if c.params["channel"] == "C0PLAT"]
    text = message_text(call)
    assert "*What the spend bought*" in text
    assert "*Last 7 days*: $72.00 · 3 merged PRs, $24.00 each, 33% reverted (1) · 1 deploy, $72.00 each" in text
    assert "1. Ada: $60.00 · 11 tokens · last 7 days $60.00: 3 merged PRs (1 reverted) · 1 deploy" in text
    assert "2. Alan: $12.00 · 11 tokens · last 7 days $12.00: 1 revert" in text
