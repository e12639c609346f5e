"""OTLP logs ingestion: Claude Code `claude_code.api_request` events, in the batches the OpenTelemetry SDK sends
(BatchLogRecordProcessor, 512 records), encoded by the SDK's own OTLP encoders (protobuf and JSON), posted to
/v1/logs of a real `tokenbot serve`; beside it, in the same run against the same server, the same requests as
tokenbot's own events posted to /v1/usage in batches of the same size.

    python bench/otlp_ingest.py [--records 50000] [--concurrency 4] [--postgres postgresql+asyncpg://…/db]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import orjson
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.json.common._internal._log_encoder import encode_logs as encode_json
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as encode_protobuf
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bot_process, drop_postgres, fresh_postgres  # noqa: E402
from bench.ingest import write_org  # noqa: E402
from tests.support.otel_client import CLAUDE_CODE_RESOURCE, EVENTS_SCOPE, ApiRequest  # noqa: E402

TOKEN = "bench-token"
OTLP_TOKEN = "bench-otlp-token"
MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]


class Capture(LogRecordExporter):
    """The SDK's batches, encoded as its OTLP/HTTP exporters encode them (what they would POST)."""

    def __init__(self) -> None:
        self.protobuf: list[tuple[int, bytes]] = []
        self.json: list[tuple[int, bytes]] = []

    def export(self, batch: Sequence) -> LogRecordExportResult:  # noqa: ANN001
        self.protobuf.append((len(batch), encode_protobuf(batch).SerializeToString()))
        self.json.append((len(batch), encode_json(batch).to_json().encode()))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def make_requests(n: int, people: int, seed: int) -> list[tuple[ApiRequest, str]]:
    rng = random.Random(seed)
    start_ns = int((time.time() - 6 * 3600) * 1e9)
    out = []
    for i in range(n):
        out.append((ApiRequest(start_ns + i * (6 * 3600 * 10**9) // n + seed, model=rng.choice(MODELS),
                               input_tokens=rng.randint(10, 4000), output_tokens=rng.randint(10, 2000),
                               cache_read_tokens=rng.randint(0, 50_000), cache_creation_tokens=rng.randint(0, 2000),
                               cost_usd=round(rng.uniform(0.001, 0.3), 6), sequence=i),
                    f"user{rng.randrange(people)}@bench.example"))
    return out


def sdk_bodies(requests: list[tuple[ApiRequest, str]], batch: int) -> Capture:
    capture = Capture()
    provider = LoggerProvider(resource=Resource.create(CLAUDE_CODE_RESOURCE))
    provider.add_log_record_processor(BatchLogRecordProcessor(capture, schedule_delay_millis=600_000,
                                                              max_export_batch_size=batch,
                                                              max_queue_size=len(requests) + batch))
    logger = provider.get_logger(EVENTS_SCOPE, "2.0.31")
    for r, email in requests:
        user = {"user.email": email, "user.account_uuid": f"acc-{email.split('@')[0]}"}
        logger.emit(LogRecord(timestamp=r.ts_ns, observed_timestamp=r.ts_ns, body="claude_code.api_request",
                              event_name="claude_code.api_request",
                              attributes=r.attributes(user, f"sess-{email.split('@')[0]}")))
    provider.force_flush(600_000)
    provider.shutdown()
    return capture


def usage_bodies(requests: list[tuple[ApiRequest, str]], batch: int) -> list[tuple[int, bytes]]:
    """The same requests as /v1/usage events (what a gateway would send for them)."""
    bodies = []
    for b in range(0, len(requests), batch):
        chunk = requests[b:b + batch]
        items = [{"id": f"usage-{r.sequence}-{r.ts_ns}", "timestamp": r.ts_ns / 1e9, "user": email, "model": r.model,
                  "provider": "anthropic",
                  "input_tokens": r.input_tokens + r.cache_read_tokens + r.cache_creation_tokens,
                  "output_tokens": r.output_tokens, "cached_input_tokens": r.cache_read_tokens,
                  "cost_usd": r.cost_usd, "metadata": {"session_id": f"sess-{email.split('@')[0]}"}}
                 for r, email in chunk]
        bodies.append((len(items), orjson.dumps(items)))
    return bodies


async def post_all(url: str, path: str, token: str, content_type: str, bodies: list[tuple[int, bytes]],
                   concurrency: int) -> tuple[float, int]:
    queue = list(reversed(bodies))
    records = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal records
        while queue:
            n, body = queue.pop()
            async with session.post(f"{url}{path}", data=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": content_type}) as resp:
                answer = await resp.read()
                # /v1/usage: "rejected_count": 0; OTLP: an empty response (no partial_success) when nothing was rejected
                if resp.status != 200 or (b'"rejected_count": 0' not in answer if path == "/v1/usage"
                                          else answer not in (b"", b"{}")):
                    raise RuntimeError(f"{path}: {resp.status}: {answer[:300]!r}")
                records += n

    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - t0, records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=512, help="the SDK's default max_export_batch_size")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a database bench_otlp is created on its server)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    runs = {name: make_requests(args.records, args.people, seed) for seed, name in enumerate(("usage", "protobuf", "json"), 1)}
    warm = make_requests(2_000, args.people, 9)
    usage = usage_bodies(runs["usage"], args.batch)
    protobuf = sdk_bodies(runs["protobuf"], args.batch).protobuf
    json_ = sdk_bodies(runs["json"], args.batch).json
    warm_bodies = sdk_bodies(warm, args.batch)
    print(f"bodies made in {time.perf_counter() - t0:.1f} s: {args.records:,} records each; bytes/record: "
          f"/v1/usage {sum(len(b) for _, b in usage) / args.records:,.0f}, OTLP protobuf "
          f"{sum(len(b) for _, b in protobuf) / args.records:,.0f}, OTLP JSON {sum(len(b) for _, b in json_) / args.records:,.0f}")
    with tempfile.TemporaryDirectory() as tmp:
        write_org(Path(tmp) / "org.yml", args.people)
        db = (fresh_postgres(args.postgres, "bench_otlp") if args.postgres
              else f"sqlite+aiosqlite:///{tmp}/bench.db")
        env = {"TOKENBOT_DATABASE_URL": db, "TOKENBOT_INGEST_TOKENS": TOKEN, "TOKENBOT_OTLP_TOKENS": OTLP_TOKEN,
               "TOKENBOT_ORG_FILE": f"{tmp}/org.yml"}
        try:
            with bot_process(env) as url:
                asyncio.run(post_all(url, "/v1/logs", OTLP_TOKEN, "application/x-protobuf", warm_bodies.protobuf,
                                     args.concurrency))
                results = {
                    "/v1/usage (tokenbot JSON)": asyncio.run(post_all(url, "/v1/usage", TOKEN, "application/json",
                                                                      usage, args.concurrency)),
                    "/v1/logs OTLP protobuf": asyncio.run(post_all(url, "/v1/logs", OTLP_TOKEN,
                                                                   "application/x-protobuf", protobuf,
                                                                   args.concurrency)),
                    "/v1/logs OTLP JSON": asyncio.run(post_all(url, "/v1/logs", OTLP_TOKEN, "application/json",
                                                               json_, args.concurrency)),
                }
        finally:
            if args.postgres:
                drop_postgres(args.postgres, "bench_otlp")
    where = "PostgreSQL" if args.postgres else "SQLite"
    base = None
    for name, (elapsed, records) in results.items():
        rate = records / elapsed
        base = base or rate
        print(f"{name:28s} {where}, batches of {args.batch}, {args.concurrency} senders: {records:,} records in "
              f"{elapsed:.2f} s = {rate:,.0f} records/s ({rate / base:.0%} of /v1/usage)")


if __name__ == "__main__":
    main()
