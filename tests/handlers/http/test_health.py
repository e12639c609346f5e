"""/healthz, /readyz and /metrics as an operator sees them."""
from __future__ import annotations

from tests.conftest import NOW


async def test_ready_and_metrics_count_what_happened(bot) -> None:
    async with bot.http.get(f"{bot.url}/readyz") as resp:
        body = await resp.json()
    assert resp.status == 200 and body["ready"] is True
    await bot.ingest([{"id": "m1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1}, {"id": "m1"}, {"id": "m2", "timestamp": "bad"}])
    await bot.ingest([{"id": "m1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1}])
    bot.slack.add_user("U0GRACE", "grace@test.example")
    await bot.sender.command("me", "U0GRACE", bot.slack.response_url())
    async with bot.http.get(f"{bot.url}/metrics") as resp:
        text = await resp.text()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    assert 'tokenbot_usage_events_total{outcome="accepted",source="api"} 1.0' in text
    assert 'tokenbot_usage_events_total{outcome="duplicate",source="api"} 1.0' in text
    assert 'tokenbot_usage_events_total{outcome="rejected",source="api"} 2.0' in text
    assert 'tokenbot_slack_calls_total{method="users.info",outcome="ok"} 1.0' in text


async def test_readyz_refuses_an_old_schema(bot) -> None:
    from sqlalchemy import text

    async with bot.deps.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    async with bot.http.get(f"{bot.url}/readyz") as resp:
        body = await resp.json()
    assert resp.status == 503 and body["schema"] == "old" and "tokenbot db upgrade" in body["fix"]
    async with bot.http.get(f"{bot.url}/healthz") as resp:
        assert resp.status == 200  # alive, just not ready
