"""LiteLLM webhook ingestion over HTTP: batches of 500 StandardLoggingPayload items (as LiteLLM's generic API logger
sends them) posted to /v1/ingest/litellm of a real `tokenbot serve` on a fresh SQLite file; beside it the rate of
the same bodies through split + LiteLLM mapper + validation only (one core, no HTTP, no database).

    python bench/litellm_ingest.py [--events 100000] [--concurrency 4]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bot_process  # noqa: E402
from bench.ingest import post_all, write_org  # noqa: E402
from bot.features.litellm_ingest import map_items  # noqa: E402
from bot.domain.usage_events import parse_events, split_body  # noqa: E402
from tests.support.litellm_payloads import standard_payload  # noqa: E402

TOKEN = "bench-token"
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
          ("claude-haiku-4-5", "anthropic"), ("gemini-2.5-flash", "gemini")]


def make_bodies(n_events: int, batch: int, people: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    start = time.time() - 6 * 3600
    bodies = []
    for b in range(0, n_events, batch):
        items = []
        for i in range(b, min(b + batch, n_events)):
            model, provider = rng.choice(MODELS)
            prompt = rng.randint(200, 20000)
            p = standard_payload(seed * 10_000_000 + i, start + (i * 6 * 3600) / n_events,
                                 user_id=f"user{rng.randrange(people)}@bench.example", email=None,
                                 team_alias=f"t{rng.randrange(max(people // 50, 1))}", model=model,
                                 provider=provider, prompt=prompt, completion=rng.randint(10, 2000),
                                 cached=rng.randint(0, prompt // 2), cost=round(rng.uniform(0.0001, 0.2), 6),
                                 status="failure" if rng.random() < 0.02 else "success")
            items.append(p)
        bodies.append(orjson.dumps(items))
    return bodies


def mapper_only_rate(bodies: list[bytes]) -> float:
    now = int(time.time())
    t0 = time.perf_counter()
    n = 0
    for body in bodies:
        events, _ = parse_events(map_items(split_body(body)), now)
        n += len(events)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    bodies = make_bodies(args.events, args.batch, args.people)
    warmup = make_bodies(5_000, args.batch, args.people, seed=2)
    size = sum(map(len, bodies)) / args.events
    map_rate = mapper_only_rate(bodies)
    with tempfile.TemporaryDirectory() as tmp:
        write_org(Path(tmp) / "org.yml", args.people)
        env = {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "TOKENBOT_INGEST_TOKENS": TOKEN,
               "TOKENBOT_ORG_FILE": f"{tmp}/org.yml"}
        with bot_process(env) as url:
            asyncio.run(post_all([url], warmup, args.concurrency, "/v1/ingest/litellm"))
            elapsed, accepted = asyncio.run(post_all([url], bodies, args.concurrency, "/v1/ingest/litellm"))
    rate = accepted / elapsed
    print(f"LiteLLM webhook over HTTP, SQLite, batches of {args.batch} ({size:,.0f} bytes/item), "
          f"{args.concurrency} senders: {accepted:,} events in {elapsed:.2f} s = {rate:,.0f} events/s")
    print(f"split + LiteLLM mapper + validate only (same bodies, one core): {map_rate:,.0f} events/s "
          f"(HTTP+DB rate is {rate / map_rate:.0%} of it)")


if __name__ == "__main__":
    main()
