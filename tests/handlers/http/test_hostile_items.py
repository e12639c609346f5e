"""One hostile item among valid ones, over real HTTP on SQLite and PostgreSQL: it is rejected (or dead-lettered when
the database refuses it) on its own; the valid items are stored; the answer is never 5xx."""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.app import app_runner, build_deps, build_web_app
from bot.clock import ManualClock
from bot.domain.org import parse_org
from storage.tables.core import dead_letters, usage_events, usage_hourly
from tests.conftest import INGEST_TOKEN, NOW, ORG_YAML, POSTGRES_URL, bot_settings

T = int(NOW.timestamp()) - 600


def event(i: int, **over: object) -> dict[str, object]:
    return {"id": f"ok-{i}", "timestamp": T, "user": "ada", "model": "gpt-4o", "input_tokens": 10,
            "output_tokens": 1, "cost_usd": 0.25} | over


class Raw(str):
    """JSON text put into a body as it is (Python's json cannot write 1,000 levels)."""


def nested(depth: int) -> Raw:
    return Raw('{"a":' * (depth - 1) + '{"leaf": 1}' + "}" * (depth - 1))


def dumps(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


async def stored(deps) -> tuple[set[str], int, int]:  # noqa: ANN001
    async with deps.engine.connect() as conn:
        ids = set((await conn.execute(select(usage_events.c.id))).scalars())
        cost = (await conn.execute(select(func.coalesce(func.sum(usage_hourly.c.cost_micros), 0)))).scalar_one()
        letters = (await conn.execute(select(func.count()).select_from(dead_letters))).scalar_one()
    return ids, int(cost), letters


HOSTILE = {
    "nul in user": {"user": "ada\x00"},
    "nul in model": {"model": "gpt\x00-4o"},
    "nul in id": {"id": "bad\x00id"},
    "cost past 64 bits": {"cost_usd": 9.3e12},
    "cost past the ceiling": {"cost_usd": 5e12},
    "metadata 300 deep": {"metadata": nested(300)},
    "metadata 1000 deep": {"metadata": nested(1000)},
    "nul in metadata": {"metadata": {"k": "a\x00b"}},
    "timestamp far away": {"timestamp": 1e300},
}


async def post(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, dict]:
    async with http.post(url, data=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        return resp.status, await resp.json()


@asynccontextmanager
async def running(tmp_path: Path, database_url: str, **extra: object):  # noqa: ANN201
    deps = await build_deps(bot_settings(tmp_path, None, database_url, **extra), ManualClock(NOW), migrate=False)
    await deps.org.sync(parse_org(ORG_YAML), int(NOW.timestamp()))
    runner = app_runner(build_web_app(deps, None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            yield deps, http, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await deps.close()


async def test_each_hostile_field_is_rejected_alone(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as (deps, http, url):
        for n, (name, over) in enumerate(HOSTILE.items()):
            batch = [event(2 * n), event(n) | {"id": f"bad-{n}"} | over, event(2 * n + 1)]
            body = dumps(batch).encode()
            status, answer = await post(http, f"{url}/v1/usage", body)
            assert status == 200, (name, status, answer)
            assert answer["accepted"] == 2 and [r["index"] for r in answer["rejected"]] == [1], (name, answer)
            again = await post(http, f"{url}/v1/ingest/litellm", body)  # a bad LiteLLM log is as harmless
            assert again[0] < 500, (name, again)
        ids, cost, letters = await stored(deps)
        assert {f"ok-{i}" for i in range(2 * len(HOSTILE))} <= ids and not any(i.startswith("bad") for i in ids)
        assert cost == 2 * len(HOSTILE) * 250_000
        assert letters >= len(HOSTILE)  # every rejected item is in the dead-letter table


async def test_a_deep_item_that_is_not_an_object_is_dead_lettered(tmp_path: Path, database_url: str) -> None:
    deep = "[" * 600 + "]" * 600  # orjson reads it; the dead-letter row is a truncated rendering of it
    async with running(tmp_path, database_url) as (deps, http, url):
        body = ("[" + json.dumps(event(1)) + "," + deep + "]").encode()
        status, answer = await post(http, f"{url}/v1/usage", body)
        assert status == 200 and answer["accepted"] == 1 and answer["rejected"][0]["index"] == 1
        status, answer = await post(http, f"{url}/v1/usage", body)  # the retry is a duplicate, not a 500
        assert status == 200 and answer["duplicates"] == 1
        async with deps.engine.connect() as conn:
            raws = list((await conn.execute(select(dead_letters.c.raw))).scalars())
        assert len(raws) == 2 and all("nested deeper" in r for r in raws)


async def test_an_item_the_database_refuses_is_dead_lettered_and_the_rest_stored(tmp_path: Path,
                                                                                  database_url: str) -> None:
    # With the ceiling at its maximum, two $9e12 events in one hour overflow the hour's 64-bit rollup on PostgreSQL:
    # the batch's transaction fails, and each event is then stored (or dead-lettered) on its own.
    async with running(tmp_path, database_url, TOKENBOT_MAX_EVENT_COST_USD=9e12) as (deps, http, url):
        batch = [event(1), event(2, cost_usd=9e12), event(3, cost_usd=9e12), event(4)]
        status, answer = await post(http, f"{url}/v1/usage", json.dumps(batch).encode())
        assert status == 200, answer
        ids, _cost, letters = await stored(deps)
        assert {"ok-1", "ok-2", "ok-4"} <= ids
        assert answer["accepted"] + answer["rejected_count"] == 4
        if POSTGRES_URL:
            assert answer["rejected"] == [{"index": 2, "reason": "could not be stored (DBAPIError)"}]
            assert letters == 1 and "ok-3" not in ids
