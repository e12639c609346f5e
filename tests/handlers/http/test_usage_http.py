"""POST /v1/usage over real HTTP into a real SQLite file."""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from bot.domain.org import parse_org
from storage.tables.core import dead_letters, people, usage_events, usage_hourly
from tests.conftest import NOW, ORG_YAML

T = int(NOW.timestamp()) - 600


def event(i: int, **over: object) -> dict[str, object]:
    return {"id": f"req-{i}", "timestamp": T, "user": "ada", "model": "gpt-4o", "provider": "openai",
            "input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.01} | over


async def count(bot, table=usage_events) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def rollup_cost(bot) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.coalesce(func.sum(usage_hourly.c.cost_micros), 0)))).scalar_one()


async def test_valid_batch_is_stored_and_rolled_up(bot) -> None:
    status, body = await bot.ingest([event(i) for i in range(10)])
    assert status == 200
    assert body == {"accepted": 10, "duplicates": 0, "rejected_count": 0, "rejected": []}
    assert await count(bot) == 10
    assert await rollup_cost(bot) == 10 * 10_000  # $0.01 each, in micro-USD


async def test_missing_or_wrong_token_is_refused(bot) -> None:
    async with bot.http.post(f"{bot.url}/v1/usage", data=json.dumps([event(1)])) as resp:
        assert resp.status == 401
        assert "bearer token" in (await resp.json())["error"]
    status, _ = await bot.ingest([event(1)], token="wrong")
    assert status == 401
    status, body = await bot.ingest([event(1)], token="second-token")  # rotation: both tokens valid
    assert status == 200 and body["accepted"] == 1


async def test_not_json_is_a_clear_400_and_is_dead_lettered(bot) -> None:
    status, body = await bot.ingest(b"this is not json")
    assert status == 400
    assert "not valid JSON" in body["error"]
    assert await count(bot, dead_letters) == 1
    status, body = await bot.ingest(b"")
    assert status == 400 and "empty" in body["error"]


async def test_bad_items_are_rejected_with_index_and_reason_and_valid_ones_kept(bot) -> None:
    items = [
        event(1),
        event(2, input_tokens=-5),
        event(3, output_tokens="many"),
        {k: v for k, v in event(4).items() if k != "id"},
        event(5, timestamp="yesterday"),
        "not an object",
        event(6, cached_input_tokens=5000),
        event(7, timestamp=T * 1000),
        event(8),
    ]
    status, body = await bot.ingest(items)
    assert status == 200
    assert body["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert reasons[1] == "input_tokens: cannot be negative"
    assert reasons[2].startswith("output_tokens: must be a whole number")
    assert reasons[3].startswith("id: required")
    assert "RFC 3339" in reasons[4]
    assert reasons[5].startswith("each event must be a JSON object")
    assert "cannot exceed input_tokens" in reasons[6]
    assert "milliseconds" in reasons[7]
    assert await count(bot) == 2
    assert await count(bot, dead_letters) == 7


async def test_all_items_invalid_is_422(bot) -> None:
    status, body = await bot.ingest([event(1, model=""), event(2, user=None)])
    assert status == 422
    assert [r["index"] for r in body["rejected"]] == [0, 1]


async def test_ndjson_with_a_broken_line_keeps_the_others(bot) -> None:
    lines = [json.dumps(event(1)), "{broken", json.dumps(event(2))]
    status, body = await bot.ingest("\n".join(lines).encode())
    assert status == 200
    assert body["accepted"] == 2
    assert body["rejected"][0]["index"] == 1 and "not valid JSON" in body["rejected"][0]["reason"]


async def test_huge_body_is_413(bot) -> None:
    limit = bot.deps.settings.max_body_bytes
    big = json.dumps([event(i, metadata={"pad": "x" * 4000}) for i in range(limit // 4000 + 10)])
    status, body = await bot.ingest(big)
    assert status == 413
    assert "limit" in body["error"]
    assert await count(bot) == 0


async def test_replayed_batch_changes_nothing(bot) -> None:
    batch = [event(i) for i in range(50)]
    await bot.ingest(batch)
    status, body = await bot.ingest(batch + [event(1)])
    assert status == 200
    assert body["accepted"] == 0 and body["duplicates"] == 51
    assert await count(bot) == 50
    assert await rollup_cost(bot) == 50 * 10_000


async def test_same_batch_posted_concurrently_is_stored_once(bot) -> None:
    batch = [event(i, cost_usd=0.5) for i in range(200)]
    results = await asyncio.gather(*(bot.ingest(batch) for _ in range(8)))
    assert all(status == 200 for status, _ in results)
    assert sum(body["accepted"] for _, body in results) == 200
    assert sum(body["duplicates"] for _, body in results) == 7 * 200
    assert await count(bot) == 200
    assert await rollup_cost(bot) == 200 * 500_000


async def test_unknown_model_is_kept_with_unknown_cost(bot) -> None:
    status, body = await bot.ingest([event(1, model="in-house-llm-v9", provider=None, cost_usd=None)])
    assert status == 200 and body["accepted"] == 1
    async with bot.deps.engine.connect() as conn:
        row = (await conn.execute(select(usage_events))).mappings().one()
    assert row["cost_micros"] is None and row["cost_source"] == "unknown"


async def test_missing_cost_is_priced_from_genai_prices(bot) -> None:
    await bot.ingest([event(1, cost_usd=None, input_tokens=1_000_000, output_tokens=0)])
    async with bot.deps.engine.connect() as conn:
        row = (await conn.execute(select(usage_events))).mappings().one()
    assert row["cost_source"] == "price"
    assert row["cost_micros"] == 2_500_000  # gpt-4o: $2.50 per million input tokens


async def test_org_file_prices_override_genai_prices(bot) -> None:
    from bot.domain.org import parse_org
    from tests.conftest import ORG_YAML

    await bot.deps.org.sync(parse_org(ORG_YAML + """prices:
  - {model: llama-3-70b-inhouse, input_per_mtok: 0.2, output_per_mtok: 0.6}
  - {model: gpt-4o, discount_pct: 20}
"""), 0)
    await bot.ingest([event(1, model="llama-3-70b-inhouse", provider=None, cost_usd=None, input_tokens=1_000_000,
                            output_tokens=1_000_000),
                      event(2, cost_usd=None, input_tokens=1_000_000, output_tokens=0),
                      event(3, model="gpt-4o-mini", cost_usd=None, input_tokens=1_000_000, output_tokens=0)])
    async with bot.deps.engine.connect() as conn:
        costs = dict((await conn.execute(select(usage_events.c.id, usage_events.c.cost_micros))).all())
    assert costs == {"req-1": 800_000, "req-2": 2_000_000, "req-3": 150_000}  # $0.80; 20% off $2.50; list price


async def test_a_person_added_to_the_org_file_is_credited_from_the_next_batch(bot) -> None:  # noqa: ANN001
    # Ingestion keeps the org directory in memory and the batch's own transaction checks it is still current, so an
    # org change made elsewhere (here through the store, as another replica's `tokenbot org sync` does) reaches the
    # very next batch without a query per batch.
    status, _ = await bot.ingest([event(1, user="linus")])
    assert status == 200
    org = ORG_YAML + "  - {email: linus@test.example, name: Linus, team: research, gateway_ids: [linus]}\n"
    await bot.deps.org.sync(parse_org(org), T)
    status, body = await bot.ingest([event(2, user="linus", cost_usd=0.05)])
    assert status == 200 and body["accepted"] == 1
    async with bot.deps.engine.connect() as conn:
        linus = (await conn.execute(select(people.c.id).where(people.c.email == "linus@test.example"))).scalar_one()
        stored = dict((await conn.execute(select(usage_events.c.id, usage_events.c.person_id)
                                           .where(usage_events.c.user_ref == "linus"))).all())
    assert stored == {"req-1": None, "req-2": linus}  # the first arrived before the org file named him
    hours = await bot.deps.ledger.person_hours(linus, 0, T // 3600 + 1)
    assert sum(h.cost_micros for h in hours) == 50_000
