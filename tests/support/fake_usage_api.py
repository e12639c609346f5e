"""OpenAI's and Anthropic's admin usage APIs on 127.0.0.1, answering in their documented shapes.

- OpenAI `GET /v1/organization/usage/completions` (Authorization: Bearer <admin key>): `start_time`/`end_time` epoch
  seconds (end exclusive), `bucket_width`, repeated `group_by`, `limit` (buckets), `page` -> `{"object": "page",
  "data": [{"object": "bucket", "start_time", "end_time", "results": [...]}], "has_more", "next_page"}`; every hour
  of the range is a bucket, empty ones included, and the current hour is returned while it is still open.
- Anthropic `GET /v1/organizations/usage_report/messages` (x-api-key, anthropic-version): `starting_at`/`ending_at`
  RFC 3339, `group_by[]`, `limit`, `page` -> `{"data": [{"starting_at", "ending_at", "results": [...]}],
  "has_more", "next_page"}`.

Usage is stored per hour as the provider's own result objects; the clock decides which hours exist yet."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.support.fake_litellm import Fault

OPENAI_PATH = "/v1/organization/usage/completions"
ANTHROPIC_PATH = "/v1/organizations/usage_report/messages"


def openai_result(*, user_id: str | None, api_key_id: str | None, model: str, project_id: str | None = "proj_1",
                  input_tokens: int = 0, output_tokens: int = 0, cached: int = 0, requests: int = 1,
                  audio_input: int = 0, audio_output: int = 0, batch: bool | None = None,
                  service_tier: str | None = None) -> dict[str, Any]:
    """The example result of OpenAI's API reference, "Usage > Completions" (GET /v1/organization/usage/completions,
    the `organization.usage.completions.result` object), field for field."""
    return {"object": "organization.usage.completions.result", "input_tokens": input_tokens,
            "output_tokens": output_tokens, "input_cached_tokens": cached, "input_audio_tokens": audio_input,
            "output_audio_tokens": audio_output, "num_model_requests": requests, "project_id": project_id,
            "user_id": user_id, "api_key_id": api_key_id, "model": model, "batch": batch,
            "service_tier": service_tier}


def anthropic_result(*, api_key_id: str | None, workspace_id: str | None, model: str, uncached: int = 0,
                     cache_read: int = 0, write_5m: int = 0, write_1h: int = 0, output: int = 0,
                     web_searches: int = 0, service_tier: str | None = "standard", context_window: str | None = "0-200k",
                     inference_geo: str | None = "global", speed: str | None = None) -> dict[str, Any]:
    """The example result of Anthropic's Admin API reference, "Usage and Cost > Get Messages Usage Report"
    (GET /v1/organizations/usage_report/messages), field for field; `speed` as that page lists it."""
    return {"uncached_input_tokens": uncached,
            "cache_creation": {"ephemeral_1h_input_tokens": write_1h, "ephemeral_5m_input_tokens": write_5m},
            "cache_read_input_tokens": cache_read, "output_tokens": output,
            "server_tool_use": {"web_search_requests": web_searches}, "api_key_id": api_key_id,
            "workspace_id": workspace_id, "model": model, "service_tier": service_tier,
            "context_window": context_window, "inference_geo": inference_geo, "speed": speed}


# What each API can group by; a dimension not asked for comes back null and its groups are summed together, as the
# real endpoints do (so a poller that forgets a dimension gets merged figures, not the test's exact rows).
OPENAI_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
ANTHROPIC_GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo", "speed")


def group_results(results: list[dict[str, Any]], group_by: list[str], kind: str) -> list[dict[str, Any]]:
    dims = OPENAI_GROUPS if kind == "openai" else ANTHROPIC_GROUPS
    out: dict[tuple, dict[str, Any]] = {}
    for r in results:
        key = tuple(r.get(d) if d in group_by else None for d in dims)
        acc = out.get(key)
        if acc is None:
            out[key] = acc = _zeroed(r) | {d: (r.get(d) if d in group_by else None) for d in dims}
        _add(acc, r)
    return list(out.values())


def _zeroed(r: dict[str, Any]) -> dict[str, Any]:
    return {k: (_zeroed(v) if isinstance(v, dict) else 0 if isinstance(v, int) and not isinstance(v, bool) else v)
            for k, v in r.items()}


def _add(acc: dict[str, Any], r: dict[str, Any]) -> None:
    for k, v in r.items():
        if isinstance(v, dict):
            _add(acc[k], v)
        elif isinstance(v, int) and not isinstance(v, bool) and isinstance(acc.get(k), int):
            acc[k] += v


@dataclass
class FakeUsageAPI:
    kind: str  # "openai" | "anthropic"
    clock: Any  # the bot's clock: which hours exist yet
    admin_key: str = "admin-key-123"
    usage: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # hour start -> results
    page_buckets: int | None = None  # fewer buckets per page than asked for (to exercise paging)
    raw_buckets: dict[int, dict[str, Any]] = field(default_factory=dict)  # hour start -> the bucket, verbatim
    faults: list[Fault] = field(default_factory=list)
    calls: list[list[tuple[str, str]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add(self, hour_start: int, result: dict[str, Any]) -> None:
        self.usage.setdefault(hour_start, []).append(result)

    def fail(self, status: int, *, page: int | None = None, retry_after: str | None = None, times: int = 1) -> None:
        """page: the n-th page of one read (1 = the request without a `page` token)."""
        self.faults.append(Fault(status, page, retry_after, times))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(OPENAI_PATH if self.kind == "openai" else ANTHROPIC_PATH, self._usage)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _usage(self, request: web.Request) -> web.Response:
        now = self.clock.now().timestamp()
        query = list(request.query.items())
        self.calls.append(query)
        q = dict(query)
        if self.kind == "openai":
            if request.headers.get("Authorization") != f"Bearer {self.admin_key}":
                return web.json_response({"error": {"message": "Incorrect API key provided", "type":
                                                    "invalid_request_error", "code": "invalid_api_key"}}, status=401)
        else:
            if request.headers.get("x-api-key") != self.admin_key:
                return web.json_response({"type": "error", "error": {"type": "authentication_error",
                                                                     "message": "invalid x-api-key"}}, status=401)
            if request.headers.get("anthropic-version") != "2023-06-01":
                return web.json_response({"type": "error", "error": {"type": "invalid_request_error",
                                                                     "message": "anthropic-version required"}},
                                         status=400)
        page_token = q.get("page")
        page_no = 1 if page_token is None else int(base64.b64decode(page_token.removeprefix("page_")).split(b":")[1])
        for fault in self.faults:
            if fault.times > 0 and (fault.page is None or fault.page == page_no):
                fault.times -= 1
                headers = {"retry-after": fault.retry_after} if fault.retry_after else None
                return web.json_response({"error": {"message": "server error", "type": "api_error"}},
                                         status=fault.status, headers=headers)
        if self.kind == "openai":
            start, end = int(q["start_time"]), int(q.get("end_time", now))
            group_by = [v for k, v in query if k == "group_by"]
        else:
            start, end = _ts(q["starting_at"]), _ts(q["ending_at"]) if "ending_at" in q else int(now)
            group_by = [v for k, v in query if k == "group_by[]"]
        if not group_by:
            return web.json_response({"error": {"message": "test fake expects grouped usage"}}, status=400)
        unknown = [g for g in group_by if g not in (OPENAI_GROUPS if self.kind == "openai" else ANTHROPIC_GROUPS)]
        if unknown:
            return web.json_response({"error": {"message": f"invalid group_by: {unknown}",
                                                "type": "invalid_request_error"}}, status=400)
        start = start // 3600 * 3600
        if page_token is not None:
            start = int(base64.b64decode(page_token.removeprefix("page_")).split(b":")[0])
        limit = int(q.get("limit", "24"))
        per_page = min(limit, self.page_buckets or limit)
        hours = []
        h = start
        while h < end and h < now:  # the current, still open hour is included
            if self.kind == "anthropic" and h + 3600 > end:
                break  # Anthropic: only buckets that end by ending_at
            hours.append(h)
            h += 3600
        chunk, rest = hours[:per_page], hours[per_page:]
        buckets = []
        for h in chunk:
            if h in self.raw_buckets:  # a bucket served as the test wrote it (an undocumented variant)
                buckets.append(self.raw_buckets[h])
                continue
            results = group_results(self.usage.get(h, []), group_by, self.kind)
            if self.kind == "openai":
                buckets.append({"object": "bucket", "start_time": h, "end_time": h + 3600, "results": results})
            else:
                buckets.append({"starting_at": _iso(h), "ending_at": _iso(h + 3600), "results": results})
        next_page = None
        if rest:
            next_page = "page_" + base64.b64encode(f"{rest[0]}:{page_no + 1}".encode()).decode()
        body: dict[str, Any] = {"data": buckets, "has_more": bool(rest), "next_page": next_page}
        if self.kind == "openai":
            body = {"object": "page"} | body
        return web.json_response(body)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
