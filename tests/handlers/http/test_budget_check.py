"""GET /v1/budget/check: soft and hard caps, raises from approvals, unknown users, auth."""
from __future__ import annotations

from bot.domain.org import parse_org
from tests.conftest import INGEST_TOKEN, NOW, ORG_YAML


async def check(bot, user: str, token: str = INGEST_TOKEN) -> tuple[int, dict]:  # noqa: ANN001
    async with bot.http.get(f"{bot.url}/v1/budget/check", params={"user": user},
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def spend(bot, user: str, usd: float, i: int) -> None:  # noqa: ANN001
    status, _ = await bot.ingest([{"id": f"s{i}", "timestamp": int(NOW.timestamp()) - 60, "user": user,
                                   "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost_usd": usd}])
    assert status == 200


async def test_soft_cap_allows_and_says_so(bot) -> None:
    status, body = await check(bot, "ada")
    assert status == 200 and body["allowed"] and body["reason"] == "within budget"
    assert body["person"] == {"budget_usd": 100.0, "spent_usd": 0.0, "remaining_usd": 100.0}
    assert body["team"]["slug"] == "platform" and body["team"]["budget_usd"] == 1000.0
    await spend(bot, "sk-ada", 120.0, 1)
    _, body = await check(bot, "ADA@test.example")  # any alias, any case
    assert body["allowed"] and body["reason"].startswith("personal budget used up (soft cap")
    assert body["person"]["remaining_usd"] == -20.0


async def test_hard_cap_refuses_until_a_raise_is_approved(bot) -> None:
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("    approvers: [U0BOSS]",
                                                       "    approvers: [U0BOSS]\n    enforcement: hard")), 0)
    await spend(bot, "ada", 100.0, 1)
    _, body = await check(bot, "ada")
    assert body["allowed"] is False and body["enforcement"] == "hard"
    assert body["reason"] == "personal budget used up; ask for more with /tokens request"
    from bot.features import requests as request_flow

    await bot.sender.command("request 50 finish the eval", "U0ADA", bot.slack.response_url())
    assert (await request_flow.approve(bot.deps, 1, "U0BOSS")).ok
    _, body = await check(bot, "ada")
    assert body["allowed"] is True and body["person"]["budget_usd"] == 150.0


async def test_unknown_user_and_bad_requests(bot) -> None:
    _, body = await check(bot, "stranger")
    assert body["allowed"] is True and body["reason"] == "unknown user: not in the org file"
    assert (await check(bot, "ada", token="nope"))[0] == 401
    async with bot.http.get(f"{bot.url}/v1/budget/check", headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        assert resp.status == 400 and "?user=" in (await resp.json())["error"]
