"""POST /v1/ingest/litellm: LiteLLM's generic API logger, over real HTTP into a real SQLite file."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from storage.tables.core import dead_letters, usage_events, usage_hourly
from tests.conftest import INGEST_TOKEN, NOW
from tests.support.litellm_payloads import call_id, standard_payload

T = NOW.timestamp() - 600
HOUR = int(T) // 3600


async def post(bot, data: bytes | str, token: str = INGEST_TOKEN) -> tuple[int, dict]:  # noqa: ANN001
    async with bot.http.post(f"{bot.url}/v1/ingest/litellm", data=data,
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def scalar(bot, stmt) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(stmt)).scalar_one()


async def ada_id(bot) -> int:  # noqa: ANN001
    return (await bot.deps.org.person_by_ref("ada")).id


async def test_json_array_batch_is_stored_attributed_and_failures_counted_not_spent(bot) -> None:
    batch = [standard_payload(i, T + i) for i in range(8)]
    batch += [standard_payload(100 + i, T + i, status="failure") for i in range(2)]
    status, body = await post(bot, json.dumps(batch))
    assert status == 200
    assert body == {"accepted": 10, "duplicates": 0, "rejected_count": 0, "rejected": []}
    person = await ada_id(bot)
    assert await scalar(bot, select(func.count()).select_from(usage_events)
                        .where(usage_events.c.person_id == person)) == 10
    assert await scalar(bot, select(func.sum(usage_hourly.c.cost_micros))) == 8 * 4100  # $0.0041 each
    assert await scalar(bot, select(func.sum(usage_hourly.c.input_tokens))) == 8 * 1200
    assert await bot.deps.ledger.failed_requests(HOUR, HOUR, person) == 2
    async with bot.deps.engine.connect() as conn:
        ids = set((await conn.execute(select(usage_events.c.id))).scalars())
    assert f"litellm:{call_id(0)}" in ids  # namespaced: cannot collide with other sources


async def test_replayed_batch_changes_nothing_including_failure_counts(bot) -> None:
    batch = [standard_payload(i, T) for i in range(5)] + [standard_payload(9, T, status="failure")]
    await post(bot, json.dumps(batch))
    status, body = await post(bot, json.dumps(batch))
    assert status == 200 and body["accepted"] == 0 and body["duplicates"] == 6
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 6
    assert await bot.deps.ledger.failed_requests(HOUR, HOUR) == 1


async def test_ndjson_and_single_object_log_formats(bot) -> None:
    ndjson = "\n".join(json.dumps(standard_payload(i, T)) for i in range(3))
    status, body = await post(bot, ndjson)
    assert status == 200 and body["accepted"] == 3
    status, body = await post(bot, json.dumps(standard_payload(50, T)))
    assert status == 200 and body["accepted"] == 1
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 4


async def test_unusable_items_are_rejected_with_reasons_and_dead_lettered(bot) -> None:
    good = standard_payload(1, T)
    no_id = {k: v for k, v in standard_payload(2, T).items() if k not in ("id", "litellm_call_id")}
    future = standard_payload(3, NOW.timestamp() + 3 * 86400)
    status, body = await post(bot, json.dumps([good, no_id, future]))
    assert status == 200 and body["accepted"] == 1
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert reasons[1].startswith("id: required") and "future" in reasons[2]
    assert await scalar(bot, select(func.count()).select_from(dead_letters)) == 2
    status, body = await post(bot, json.dumps([no_id]))
    assert status == 422


async def test_token_body_and_size_checks_match_v1_usage(bot) -> None:
    status, body = await post(bot, json.dumps([standard_payload(1, T)]), token="wrong")
    assert status == 401 and "bearer token" in body["error"]
    status, body = await post(bot, b"not json at all")
    assert status == 400 and "not valid JSON" in body["error"]
    limit = bot.deps.settings.max_body_bytes
    big = json.dumps([standard_payload(i, T) | {"messages": "x" * 4000} for i in range(limit // 4000 + 10)])
    status, body = await post(bot, big)
    assert status == 413
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 0
