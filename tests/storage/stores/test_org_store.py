"""Org sync against a real SQLite file: idempotent, reports what changed, and re-attributes earlier usage."""
from __future__ import annotations

from bot.domain.org import parse_org
from tests.conftest import NOW, ORG_YAML


async def test_second_sync_changes_nothing(bot) -> None:
    org = bot.deps.org
    revision = await org.revision()
    assert await org.sync(parse_org(ORG_YAML), 0) == []
    assert await org.revision() == revision


async def test_changes_are_reported_one_line_each(bot) -> None:
    text = (ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 1500")
            .replace("approvers: [U0RBOSS]", "approvers: [U0RBOSS, U0CFO]")
            .replace("  - {email: alan@test.example, slack_id: U0ALAN, name: Alan, team: platform, gateway_ids: [alan]}\n", "")
            + "  - {email: new@test.example, team: research}\n")
    changes = await bot.deps.org.sync(parse_org(text), 0)
    assert changes == [
        "team platform: monthly budget $1,000.00 -> $1,500.00",
        "team research: approvers U0CFO, U0RBOSS",
        "person new@test.example: added to research",
        "person alan@test.example: removed from the org file (kept as inactive; their history stays)",
    ]
    team = await bot.deps.org.team_by_slug("platform")
    assert team.monthly_budget_micros == 1_500_000_000
    assert await bot.deps.org.person_by_email("alan@test.example") is None


async def test_usage_of_an_unknown_user_is_kept_and_moves_to_them_when_added(bot) -> None:
    ts = int(NOW.timestamp()) - 60
    status, body = await bot.ingest([{"id": "z1", "timestamp": ts, "user": "zoe", "model": "gpt-4o",
                                      "input_tokens": 1, "output_tokens": 1, "cost_usd": 3.0}])
    assert status == 200 and body["accepted"] == 1
    await bot.deps.org.sync(parse_org(ORG_YAML + "  - {email: zoe@test.example, team: research, gateway_ids: [zoe]}\n"), 0)
    moved = await bot.deps.ledger.reattribute(await bot.deps.ingestion.directory())
    assert moved == 1
    zoe = await bot.deps.org.person_by_email("zoe@test.example")
    rows = await bot.deps.ledger.person_hours(zoe.id, 0, 10**9)
    assert sum(r.cost_micros for r in rows) == 3_000_000
    assert sum(r.cost_micros for r in await bot.deps.ledger.person_hours(0, 0, 10**9)) == 0
    research = await bot.deps.org.team_by_slug("research")
    assert sum(r.cost_micros for r in await bot.deps.ledger.team_hours(research.id, 0, 10**9)) == 3_000_000
    assert await bot.deps.ledger.reattribute(await bot.deps.ingestion.directory()) == 0


async def test_two_processes_reattributing_at_once_move_each_event_once(bot) -> None:
    import asyncio

    from bot.app import build_deps

    ts = int(NOW.timestamp()) - 60
    await bot.ingest([{"id": f"z{i}", "timestamp": ts, "user": "zoe", "model": "gpt-4o", "input_tokens": 1,
                       "output_tokens": 1, "cost_usd": 1.0} for i in range(20)])
    await bot.deps.org.sync(parse_org(ORG_YAML + "  - {email: zoe@test.example, team: research, gateway_ids: [zoe]}\n"), 0)
    other = await build_deps(bot.deps.settings, bot.clock, migrate=False)
    try:
        moved = await asyncio.gather(bot.deps.ledger.reattribute(await bot.deps.ingestion.directory()),
                                     other.ledger.reattribute(await other.ingestion.directory()))
    finally:
        await other.engine.dispose()
    assert sum(moved) == 20
    zoe = await bot.deps.org.person_by_email("zoe@test.example")
    assert sum(r.cost_micros for r in await bot.deps.ledger.person_hours(zoe.id, 0, 10**9)) == 20_000_000
    assert sum(r.cost_micros for r in await bot.deps.ledger.person_hours(0, 0, 10**9)) == 0
