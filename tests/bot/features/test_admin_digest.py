"""The admins' daily digest: all teams by risk and the reconciliation line, once per admin and day."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.features.admin_digest import run_admin_digest
from bot.app import build_deps
from tests.conftest import NOW


def texts(call) -> str:  # noqa: ANN001
    return "\n".join(b["text"]["text"] for b in call.params["blocks"] if isinstance(b.get("text"), dict))


async def test_admin_digest_once_per_day_across_processes(bot) -> None:
    await bot.ingest([{"id": "a1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 900.0}])
    other = await build_deps(bot.deps.settings, bot.clock, migrate=False)
    try:
        sent = await asyncio.gather(run_admin_digest(bot.deps), run_admin_digest(other))
    finally:
        await other.close()
    assert sorted(sent) == [0, 1]
    [call] = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADMIN"]
    assert call.params["text"] == "AI spend: 1 of 2 teams are projected over budget this month"
    body = texts(call)
    assert body.index("*Platform*") < body.index("*Research*")  # projected overrun first
    assert await run_admin_digest(bot.deps) == 0  # same day: never again
    bot.clock.advance(timedelta(days=1))
    assert await run_admin_digest(bot.deps) == 1
