"""OpenAI's and Anthropic's cost endpoints on 127.0.0.1, answering in their documented shapes.

- OpenAI `GET /v1/organization/costs` (Authorization: Bearer <admin key>): `start_time` (required) / `end_time`
  epoch seconds (end exclusive), `bucket_width=1d` (the only width), `limit` 1..180 buckets (default 7), `page` ->
  `{"object": "page", "data": [{"object": "bucket", "start_time", "end_time", "results": [{"object":
  "organization.costs.result", "amount": {"value": <dollars, a number>, "currency": "usd"}, "line_item": null,
  "project_id": null}]}], "has_more", "next_page"}`; the current, still open day is returned too.
- Anthropic `GET /v1/organizations/cost_report` (x-api-key, anthropic-version): `starting_at` (required) /
  `ending_at` RFC 3339 (buckets that end by it), `bucket_width=1d`, `limit` 1..31 (default 7), `page` ->
  `{"data": [{"starting_at", "ending_at", "results": [{"currency": "USD", "amount": "<cents, a decimal string>",
  "workspace_id": null, "description": null, ...}]}], "has_more", "next_page"}`.

Costs are kept per UTC day in dollars (Decimal strings) and rendered in each provider's unit."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.support.fake_litellm import Fault

OPENAI_COSTS_PATH = "/v1/organization/costs"
ANTHROPIC_COSTS_PATH = "/v1/organizations/cost_report"
DAY = 86_400


def day_ts(day: str | date) -> int:
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


@dataclass
class FakeCostAPI:
    kind: str  # "openai" | "anthropic"
    clock: Any  # which days exist yet
    admin_key: str = "admin-key-123"
    costs: dict[int, list[str | dict[str, Any]]] = field(default_factory=dict)  # day start -> amounts in dollars
    # (decimal strings), or bill lines: {"dollars": "1.5", <the grouping fields of the provider's result>}
    raw_buckets: dict[int, dict[str, Any]] = field(default_factory=dict)  # day start -> the bucket, verbatim
    page_buckets: int | None = None
    faults: list[Fault] = field(default_factory=list)
    calls: list[list[tuple[str, str]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def bill(self, day: str | date, *dollars: str) -> None:
        """The day's cost results (one per amount), replacing what the day had: a revised bill."""
        self.costs[day_ts(day)] = list(dollars)

    def bill_lines(self, day: str | date, lines: list[dict[str, Any]]) -> None:
        """The day's bill as lines, each {"dollars": "<decimal string>", ...grouping fields}: for Anthropic the
        fields a result grouped by `description` carries (description, cost_type, token_type, model, service_tier,
        context_window, inference_geo), for OpenAI the `line_item` of a result grouped by line_item."""
        self.costs[day_ts(day)] = list(lines)

    def fail(self, status: int, *, page: int | None = None, retry_after: str | None = None, times: int = 1) -> None:
        self.faults.append(Fault(status, page, retry_after, times))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(OPENAI_COSTS_PATH if self.kind == "openai" else ANTHROPIC_COSTS_PATH, self._costs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _result(self, entry: str | dict[str, Any], grouped: bool) -> dict[str, Any]:
        """One result as the reference's example shows it: OpenAI "Usage > Costs" (`organization.costs.result`,
        amount {value: dollars, currency: "usd"}); Anthropic "Usage and Cost > Get Cost Report" (amount: cents as a
        decimal string, currency "USD", the description fields null unless grouped by description)."""
        line = entry if isinstance(entry, dict) else {"dollars": entry}
        dollars = Decimal(line["dollars"])
        if self.kind == "openai":
            return {"object": "organization.costs.result", "amount": {"value": float(dollars), "currency": "usd"},
                    "line_item": line.get("line_item") if grouped else None, "project_id": None}
        fields = ("description", "cost_type", "context_window", "model", "service_tier", "token_type",
                  "inference_geo")
        return {"currency": "USD", "amount": str(dollars * 100), "workspace_id": None} | {
            f: (line.get(f) if grouped else None) for f in fields}

    async def _costs(self, request: web.Request) -> web.Response:
        now = int(self.clock.now().timestamp())
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
        if q.get("bucket_width", "1d") != "1d":
            return web.json_response({"error": {"message": "bucket_width: only 1d"}}, status=400)
        limit = int(q.get("limit", "7"))
        if not 1 <= limit <= (180 if self.kind == "openai" else 31):
            return web.json_response({"error": {"message": f"limit {limit} out of range"}}, status=400)
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
        else:
            start, end = _ts(q["starting_at"]), _ts(q["ending_at"]) if "ending_at" in q else now + DAY
        start = start // DAY * DAY
        if page_token is not None:
            start = int(base64.b64decode(page_token.removeprefix("page_")).split(b":")[0])
        days = []
        d = start
        while d < end and d < now:  # OpenAI: the open day is included
            if self.kind == "anthropic" and d + DAY > end:
                break
            days.append(d)
            d += DAY
        per_page = min(limit, self.page_buckets or limit)
        chunk, rest = days[:per_page], days[per_page:]
        buckets = []
        grouped = ("group_by" if self.kind == "openai" else "group_by[]") in q
        for d in chunk:
            if d in self.raw_buckets:
                buckets.append(self.raw_buckets[d])
                continue
            results = [self._result(x, grouped) for x in self.costs.get(d, [])]
            if self.kind == "openai":
                buckets.append({"object": "bucket", "start_time": d, "end_time": d + DAY, "results": results})
            else:
                buckets.append({"starting_at": _iso(d), "ending_at": _iso(d + DAY), "results": results})
        next_page = "page_" + base64.b64encode(f"{rest[0]}:{page_no + 1}".encode()).decode() if rest else None
        body: dict[str, Any] = {"data": buckets, "has_more": bool(rest), "next_page": next_page}
        if self.kind == "openai":
            body = {"object": "page"} | body
        return web.json_response(body)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
