"""`/tokens team`, `/tokens top`, `/tokens models`: figures, privacy per role, strict arguments."""
from __future__ import annotations

from bot.domain.org import parse_org
from tests.support.blocks import block_texts
from tests.conftest import NOW, ORG_YAML


def shown(answer: dict) -> str:
    return block_texts(answer.get("blocks", []))


async def spend(bot, user: str, cost: float, model: str = "gpt-4o", i: int = 0, tokens_in: int = 1000) -> None:  # noqa: ANN001
    status, _ = await bot.ingest([{"id": f"{user}-{i}-{cost}", "timestamp": int(NOW.timestamp()) - 3600, "user": user,
                                   "model": model, "input_tokens": tokens_in, "output_tokens": 100, "cost_usd": cost}])
    assert status == 200


async def test_team_totals_for_members_and_names_only_for_approvers(bot) -> None:
    await spend(bot, "ada", 30.0)
    await spend(bot, "alan", 12.5)
    as_member = shown(await bot.sender.command("team", "U0ALAN", bot.slack.response_url()))
    assert "*Month to date*\n$42.50" in as_member
    assert "*Active people this month*\n2" in as_member
    assert "Top spenders" not in as_member and "<@U0ADA>" not in as_member  # platform does not share names
    as_approver = shown(await bot.sender.command("team platform", "U0BOSS", bot.slack.response_url()))
    assert ("1. <@U0ADA>: $30.00 · no recorded outcomes\n2. <@U0ALAN>: $12.50 · no recorded outcomes"
            in as_approver)
    assert "*Platform budget*: $42.50 of $1,000.00 (4%)" in as_approver


async def test_other_teams_are_private_except_to_their_approvers_and_admins(bot) -> None:
    await spend(bot, "grace", 7.0)
    refused = shown(await bot.sender.command("team research", "U0ADA", bot.slack.response_url()))
    assert refused == "Only members, approvers of `research` and FinOps admins can see its spend."
    admin = shown(await bot.sender.command("team research", "U0ADMIN", bot.slack.response_url()))
    assert "*Month to date*\n$7.00" in admin and "1. Grace: $7.00" in admin


async def test_top_respects_the_team_setting(bot) -> None:
    await spend(bot, "ada", 30.0)
    hidden = shown(await bot.sender.command("top", "U0ALAN", bot.slack.response_url()))
    assert "does not share per-person figures; 1 people used AI this month" in hidden
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("    approvers: [U0BOSS]",
                                                       "    approvers: [U0BOSS]\n    digest_names_top_spenders: true")), 0)
    open_ = shown(await bot.sender.command("top", "U0ALAN", bot.slack.response_url()))
    assert "1. <@U0ADA>: $30.00" in open_


async def test_strict_arguments_and_no_injection(bot) -> None:
    cases = {
        "team nosuchteam": "There is no team `nosuchteam`.",
        "team <@U0ADA|ada>": "That is a person, not a team",
        "team <!channel>": "`&lt;!channel&gt;` is not a team slug",
        "top a b": "takes at most one team slug",
    }
    for text, expected in cases.items():
        answer = shown(await bot.sender.command(text, "U0ADA", bot.slack.response_url()))
        assert expected in answer, (text, answer)
        assert "<!channel>" not in answer


async def test_models_prices_the_cheaper_sibling(bot) -> None:
    # 10 requests of 100k input + 100 output tokens on gpt-4o, priced by genai-prices (no cost_usd given).
    for i in range(10):
        status, _ = await bot.ingest([{"id": f"m{i}", "timestamp": int(NOW.timestamp()) - 600, "user": "ada",
                                       "model": "gpt-4o", "input_tokens": 100_000, "output_tokens": 100}])
        assert status == 200
    text = shown(await bot.sender.command("models", "U0ADA", bot.slack.response_url()))
    # gpt-4o: $2.50/M in, $10/M out -> $0.251 a request; gpt-4o-mini: $0.15/M in, $0.60/M out -> $0.01506.
    assert "`gpt-4o`: $2.51 · 10 requests" in text
    assert "on `gpt-4o-mini` it would have cost $0.15 (save $2.36)" in text
